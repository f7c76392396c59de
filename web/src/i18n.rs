//! The portal's languages: English, Dutch and German. Templates write English and pass
//! it through `t(...)`; `templates/i18n/<lang>.json` maps each English text to its
//! translation, worded as the e-mails word the same things. A text without a
//! translation shows in English.
//!
//! A page is in the person's own language when someone is logged in, else in the first
//! language of the browser's Accept-Language that the portal speaks, else English.

use std::{cell::Cell, collections::HashMap, sync::LazyLock};

use minijinja::value::Kwargs;

/// The languages pages are written in.
pub const LANGUAGES: [&str; 3] = ["en", "nl", "de"];

/// Each language and its name in itself, as selects offer them (`languages` in every
/// template).
pub const LANGUAGE_NAMES: [(&str, &str); 3] = [("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch")];

type Catalog = HashMap<String, String>;

fn catalog(json: &str, name: &str) -> Catalog {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("templates/i18n/{name}.json: {e}"))
}

/// English labels for the codes the API sends (`created_by_partner`, `CUSTOMER`, …).
static ENGLISH: LazyLock<Catalog> = LazyLock::new(|| catalog(include_str!("../../templates/i18n/en.json"), "en"));
static DUTCH: LazyLock<Catalog> = LazyLock::new(|| catalog(include_str!("../../templates/i18n/nl.json"), "nl"));
static GERMAN: LazyLock<Catalog> = LazyLock::new(|| catalog(include_str!("../../templates/i18n/de.json"), "de"));

thread_local! {
    /// The language of the page being rendered (rendering is synchronous).
    static RENDERING: Cell<&'static str> = const { Cell::new("en") };
}

/// One of [`LANGUAGES`], or English.
pub fn supported(lang: &str) -> &'static str {
    LANGUAGES
        .into_iter()
        .find(|l| lang.eq_ignore_ascii_case(l))
        .unwrap_or("en")
}

/// The first language of an Accept-Language header the portal speaks, by quality.
pub fn from_accept_language(header: Option<&str>) -> &'static str {
    let mut choices: Vec<(f32, &'static str)> = header
        .unwrap_or_default()
        .split(',')
        .take(20)
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            let lang = LANGUAGES.into_iter().find(|l| *l == primary)?;
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (quality > 0.0).then_some((quality, lang))
        })
        .collect();
    choices.sort_by(|a, b| b.0.total_cmp(&a.0));
    choices.first().map_or("en", |c| c.1)
}

/// Runs `render` with `lang` as the language `t` translates into.
pub fn rendering<T>(lang: &str, render: impl FnOnce() -> T) -> T {
    let previous = RENDERING.with(|r| r.replace(supported(lang)));
    let out = render();
    RENDERING.with(|r| r.set(previous));
    out
}

/// The English text in the language being rendered.
pub fn translate(text: &str) -> String {
    let found = match RENDERING.with(Cell::get) {
        "nl" => DUTCH.get(text),
        "de" => GERMAN.get(text),
        _ => ENGLISH.get(text),
    };
    found.map_or_else(|| text.to_owned(), Clone::clone)
}

/// The template function `line(description)`: an order line's stored (English)
/// description in the language being rendered, when it is one of core's
/// `LINE_DESCRIPTIONS`; as it is otherwise.
pub fn line(description: &str) -> String {
    for pattern in partnerdesk_core::commerce::licences::LINE_DESCRIPTIONS {
        let suffix = pattern.trim_start_matches("{module}");
        if let Some(module) = description.strip_suffix(suffix).filter(|m| !m.is_empty()) {
            return translate(pattern).replace("{module}", module);
        }
    }
    description.to_owned()
}

/// The template function `t("Welcome, {name}", name=...)`: the translation, with each
/// `{key}` replaced by its value.
pub fn t(text: &str, values: Kwargs) -> Result<String, minijinja::Error> {
    let mut out = translate(text);
    for key in values.args() {
        let value: minijinja::Value = values.get(key)?;
        out = out.replace(&format!("{{{key}}}"), &value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_spoken_language() {
        assert_eq!(from_accept_language(Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(from_accept_language(Some("fr-FR, nl;q=0.5, en;q=0.7")), "en");
        assert_eq!(from_accept_language(Some("fr, nl-BE;q=0.3")), "nl");
        assert_eq!(from_accept_language(Some("nl;q=0, de;q=0.1")), "de");
        assert_eq!(from_accept_language(Some("fr")), "en");
        assert_eq!(from_accept_language(None), "en");
    }

    #[test]
    fn every_translation_keeps_the_placeholders_of_its_english_text() {
        for (name, catalog) in [("en", &*ENGLISH), ("nl", &*DUTCH), ("de", &*GERMAN)] {
            for (english, translated) in catalog {
                let holes = |s: &str| {
                    let mut v: Vec<String> = s
                        .split('{')
                        .skip(1)
                        .filter_map(|p| p.split_once('}').map(|(k, _)| k.to_owned()))
                        .collect();
                    v.sort();
                    v.dedup();
                    v
                };
                assert_eq!(
                    holes(english),
                    holes(translated),
                    "{name}: {english:?} → {translated:?}"
                );
                assert!(!translated.trim().is_empty(), "{name}: {english:?} is empty");
            }
        }
    }
}
