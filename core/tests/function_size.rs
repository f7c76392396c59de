//! No function outside tests is longer than `MAX_LINES`: long functions are split into
//! named steps. Run by `just check` and `just test`.

mod source;

use std::path::Path;

/// The longest a non-test function may be, counting its signature and closing brace.
const MAX_LINES: usize = 80;

/// The functions of a file as (name, first line, length), outside `#[cfg(test)]` blocks.
/// rustfmt puts a function's closing brace at the indentation of its `fn` line.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item that follows (a test module or function).
            i = end_of_item(&lines, i + 1).map_or(lines.len(), |e| e + 1);
            continue;
        }
        if let Some(name) = fn_name(trimmed)
            && let Some(end) = end_of_item(&lines, i)
        {
            found.push((name, i + 1, end - i + 1));
            // Nested functions are counted with their parent.
            let _ = indent;
            i = end + 1;
            continue;
        }
        i += 1;
    }
    found
}

/// The name of the function a line declares, if it does.
fn fn_name(trimmed: &str) -> Option<String> {
    let mut rest = trimmed;
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// The line that closes the item starting at `start`: the first later line at the same
/// indentation that starts with `}` (or the line itself for a one-line item).
fn end_of_item(lines: &[&str], start: usize) -> Option<usize> {
    let first = lines.get(start)?;
    let indent = first.len() - first.trim_start().len();
    if first.trim_end().ends_with(';') || (first.contains('{') && first.trim_end().ends_with('}')) {
        return Some(start);
    }
    (start + 1..lines.len()).find(|&j| {
        let l = lines[j];
        l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}')
    })
}

#[test]
fn no_function_outside_tests_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "core/src",
        "core/testkit/src",
        "seeds/scale/src",
        "web/src",
        "worker/src",
    ] {
        files.extend(source::rust_files(&root.join(dir)));
    }
    files.sort();
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        for (name, line, length) in functions(&text) {
            if length > MAX_LINES {
                let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
                long.push(format!("{shown}:{line} {name} ({length} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these functions into named steps (at most {MAX_LINES} lines each):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_scanner_measures_functions() {
    let text = "fn a() {\n    x();\n}\n\n#[cfg(test)]\nmod tests {\n    fn long() {\n    }\n}\npub async fn b(\n    c: u8,\n) -> u8 {\n    c\n}\n";
    let found = functions(text);
    assert_eq!(found, [("a".to_owned(), 1, 3), ("b".to_owned(), 10, 5)]);
}
