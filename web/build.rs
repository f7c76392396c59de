fn main() {
    // Page templates are embedded in the binary at build time.
    minijinja_embed::embed_templates!("../templates/pages");
}
