fn main() {
    // E-mail templates are embedded in the binaries at build time (the web crate embeds
    // its page templates itself).
    minijinja_embed::embed_templates!("../templates/email");
    println!("cargo:rerun-if-changed=../migrations");
}
