//! The portal's page templates (`templates/pages/*.html`): embedded at build time, or
//! read from `TEMPLATES_DIR/pages` when configured. Pages render leniently, since their
//! forms show optional values.

use minijinja::{Environment, UndefinedBehavior};
use partnerdesk_core::{Error, Result, platform::config::Config, platform::templating};
use serde_json::Value;

pub struct PageTemplates {
    env: Environment<'static>,
}

impl PageTemplates {
    pub fn load(config: &Config) -> Self {
        let mut env = templating::environment(UndefinedBehavior::Chainable);
        match &config.templates_dir {
            Some(dir) => env.set_loader(minijinja::path_loader(dir.join("pages"))),
            None => load_embedded(&mut env),
        }
        env.add_global("stylesheet", crate::assets::STYLESHEET.path.clone());
        env.add_global("script", crate::assets::SCRIPT.path.clone());
        env.add_function("t", crate::i18n::t);
        env.add_function("line", crate::i18n::line);
        // What selects offer, and core's enums by name for comparisons.
        for (name, choices) in crate::choices::globals() {
            env.add_global(name, minijinja::Value::from(minijinja::value::Serde(choices)));
        }
        for (name, values) in crate::choices::enums() {
            env.add_global(name, minijinja::Value::from(minijinja::value::Serde(values)));
        }
        PageTemplates { env }
    }

    /// The page `<name>.html`, in the context's `lang`.
    pub fn render(&self, name: &str, context: &Value) -> Result<String> {
        let template = format!("{name}.html");
        let lang = context["lang"].as_str().unwrap_or("en");
        crate::i18n::rendering(lang, || {
            self.env
                .get_template(&template)
                .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(context))))
        })
        .map_err(|e| Error::internal(format!("rendering {template}: {e:#}")))
    }
}

#[allow(elided_lifetimes_in_paths, unused_variables)]
fn load_embedded(env: &mut Environment<'static>) {
    minijinja_embed::load_templates!(*env);
}
