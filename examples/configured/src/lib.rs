//! An actor configured at runtime: a `wasi:http/incoming-handler` that
//! answers `GREETING from NAME!`, both read through `wasi:config/store`
//! (`Hello` and `Lattice` when its config has no such key). `GET /config`
//! lists every key it sees, one `key=value` a line, sorted.

use std::io::Write as _;

mod bindings {
    wit_bindgen::generate!({
        world: "imports",
        path: "../../interfaces/wit/config",
    });
}

use bindings::wasi::config::store;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Configured;

wasi::http::proxy::export!(Configured);

/// The value of `key`, or `default` when the config has none (or cannot
/// be read).
fn setting(key: &str, default: &str) -> String {
    match store::get(key) {
        Ok(Some(value)) => value,
        _ => default.to_string(),
    }
}

fn answer(request: &IncomingRequest) -> String {
    if request.path_with_query().as_deref() == Some("/config") {
        let mut all = store::get_all().unwrap_or_default();
        all.sort();
        return all.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    }
    format!(
        "{} from {}!\n",
        setting("greeting", "Hello"),
        setting("name", "Lattice")
    )
}

impl wasi::exports::http::incoming_handler::Guest for Configured {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let text = answer(&request);
        let headers = Fields::new();
        // Setting a header on fresh fields cannot fail for this well-formed pair.
        let _ = headers.set("content-type", &[b"text/plain; charset=utf-8".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(mut out) = body.write() {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}
