fn main() {
    // E-mail and page templates are embedded in the binaries at build time.
    minijinja_embed::embed_templates!("../templates");
    println!("cargo:rerun-if-changed=../migrations");
}
