//! The template environment e-mails and pages share: HTML escaping that leaves `/`
//! alone (links stay readable), an absent value shown as nothing, and whitespace control.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// A configured environment; the caller loads the templates.
pub fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_formatter(|out, state, value| {
        // An absent optional value shows as nothing, never as "none".
        if value.is_none() {
            return Ok(());
        }
        if *state.auto_escape() == AutoEscape::Html && !value.is_safe() && !value.is_undefined() {
            out.write_str(&escape_html(&value.to_string()))
                .map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
