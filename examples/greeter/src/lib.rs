//! The greeter actor: answers `GET /NAME` with `HELLO, NAME!` in upper case,
//! which it asks the actor linked over `example:uppercase/convert` to make.

use std::io::Write as _;

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wit_bindgen::generate!({
    world: "greeter-imports",
    path: "../../interfaces/wit/example-uppercase.wit",
});

use example::uppercase::convert;

struct Greeter;

wasi::http::proxy::export!(Greeter);

impl wasi::exports::http::incoming_handler::Guest for Greeter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path.trim_start_matches('/');
        let name = if name.is_empty() { "world" } else { name };
        let greeting = convert::upper(&format!("Hello, {name}!"));
        let stats = convert::analyze(&greeting);
        let text = format!(
            "{greeting} ({} chars, {} words)\n",
            stats.chars, stats.words
        );

        let response = OutgoingResponse::new(Fields::new());
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
