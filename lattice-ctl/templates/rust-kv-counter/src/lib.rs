//! {{name}}: `GET /NAME` adds one to the counter `NAME` in the key-value
//! store it is linked to, atomically, and answers the new value.

use std::io::Write as _;

use ::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:keyvalue/imports",
        path: "wit/keyvalue",
    });
}

use bindings::wasi::keyvalue::{atomics, store};

struct Counter;

::wasi::http::proxy::export!(Counter);

fn count(name: &str) -> Result<u64, String> {
    let bucket = store::open("counters").map_err(|e| format!("{e:?}"))?;
    atomics::increment(&bucket, name, 1).map_err(|e| format!("{e:?}"))
}

impl ::wasi::exports::http::incoming_handler::Guest for Counter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path.trim_start_matches('/');
        let name = if name.is_empty() { "hits" } else { name };
        let (status, text) = match count(name) {
            Ok(value) => (200, format!("{value}\n")),
            Err(error) => (500, format!("cannot count {name}: {error}\n")),
        };
        let response = OutgoingResponse::new(Fields::new());
        let _ = response.set_status_code(status);
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
