//! Reads go through the read frame: `op::read` authorizes and hands the query the
//! `Access` it was granted (or, where a read chooses among permissions, `op::grant`
//! gives the `Access` its queries take). Only the frames call `authz::authorize`
//! themselves; the modules listed in `NOT_YET` are the ones still to move into the
//! frame, and the list may only shrink. Run by `just check` and `just test`.

mod source;

use std::path::Path;

/// The frames themselves, and the audit log, which the write frame uses (so it cannot
/// use `op`).
const FRAMES: &[&str] = &["platform/authz.rs", "platform/op.rs", "platform/audit.rs"];

/// Modules whose reads still call `authz::authorize` directly, to be moved into the
/// frame (none now; a module may be listed only while it is being moved).
const NOT_YET: &[&str] = &[];

/// The modules of `core/src` (relative paths) that call the authorization function
/// directly, outside tests.
fn direct_callers() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found: Vec<String> = source::rust_files(&src)
        .iter()
        .filter(|f| {
            let code = source::code(f);
            code.contains("authz::authorize(") || code.contains("authz::authorize_vendor(")
        })
        .map(|f| f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|f| !FRAMES.contains(&f.as_str()))
        .collect();
    found.sort();
    found
}

#[test]
fn reads_authorize_through_the_frame() {
    let found = direct_callers();
    let new: Vec<&String> = found.iter().filter(|f| !NOT_YET.contains(&f.as_str())).collect();
    assert!(
        new.is_empty(),
        "these modules call authz::authorize directly; read through op::read (or op::grant) instead: {new:?}"
    );
}

#[test]
fn the_list_of_modules_still_to_move_only_shrinks() {
    let found = direct_callers();
    let moved: Vec<&&str> = NOT_YET.iter().filter(|f| !found.iter().any(|g| g == *f)).collect();
    assert!(
        moved.is_empty(),
        "these modules read through the frame now: remove them from NOT_YET: {moved:?}"
    );
}
