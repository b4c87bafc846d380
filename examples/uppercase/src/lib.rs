//! The uppercase actor: exports `example:uppercase/convert` for other actors
//! to call over a link.

wit_bindgen::generate!({
    world: "uppercase",
    path: "../../interfaces/wit/example-uppercase.wit",
});

use exports::example::uppercase::convert::{Guest, Stats};

struct Uppercase;

impl Guest for Uppercase {
    fn upper(text: String) -> String {
        text.to_uppercase()
    }

    fn analyze(text: String) -> Stats {
        Stats {
            chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
            words: u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX),
        }
    }
}

export!(Uppercase);
