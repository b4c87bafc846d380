//! The blobby actor: a file service over `wasi:blobstore`, in the container
//! `files` of the blob store it is linked to (made on first use).
//!
//! - `PUT /NAME`: stores the request body as object `NAME`; 201 and its size.
//! - `GET /NAME`: the object, with its `content-length`; 404 if missing.
//! - `GET /`: the object names, one per line.
//! - `DELETE /NAME`: deletes it; 204.
//!
//! Bodies are spliced between the HTTP streams and the blob store's, in
//! the host: the actor never holds an object, whatever its size. A name
//! the blob store refuses gets 400, a write over a limit of the link 413.

use ::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use ::wasi::io::streams::{InputStream, OutputStream, StreamError};

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:blobstore/imports",
        path: "../../contracts/blobstore/wit",
        with: {
            "wasi:io/error@0.2.1": ::wasi::io::error,
            "wasi:io/poll@0.2.1": ::wasi::io::poll,
            "wasi:io/streams@0.2.1": ::wasi::io::streams,
        },
    });
}

use bindings::wasi::blobstore::blobstore;
use bindings::wasi::blobstore::container::Container;
use bindings::wasi::blobstore::types::{IncomingValue, OutgoingValue};

/// Where the files live.
const CONTAINER: &str = "files";

/// How much one splice moves at most.
const SPLICE: u64 = 1 << 20;

struct Blobby;

::wasi::http::proxy::export!(Blobby);

/// An answer: status and text (a body of its own is streamed instead).
struct Answer(u16, String);

/// The status for a blob store error: its text is all there is to go by.
fn failed(error: String) -> Answer {
    let status = if error.contains("does not exist") {
        404
    } else if error.contains("nothing was written") {
        413
    } else if error.contains("name") {
        400
    } else {
        500
    };
    Answer(status, format!("{error}\n"))
}

fn files() -> Result<Container, String> {
    if blobstore::container_exists(CONTAINER)? {
        return blobstore::get_container(CONTAINER);
    }
    // Another instance may make it first.
    blobstore::create_container(CONTAINER).or_else(|_| blobstore::get_container(CONTAINER))
}

/// Moves everything from `from` to `to`; the bytes moved.
fn splice_all(from: &InputStream, to: &OutputStream) -> Result<u64, String> {
    let mut moved = 0;
    loop {
        match to.blocking_splice(from, SPLICE) {
            Ok(n) => moved += n,
            Err(StreamError::Closed) => return Ok(moved),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn list(files: &Container) -> Answer {
    let listing = match files.list_objects() {
        Ok(listing) => listing,
        Err(error) => return failed(error),
    };
    let mut text = String::new();
    loop {
        match listing.read_stream_object_names(1000) {
            Ok((names, ended)) => {
                for name in names {
                    text.push_str(&name);
                    text.push('\n');
                }
                if ended {
                    return Answer(200, text);
                }
            }
            Err(error) => return failed(error),
        }
    }
}

fn put(files: &Container, name: &str, request: IncomingRequest) -> Answer {
    let Ok(body) = request.consume() else {
        return Answer(400, "no request body\n".into());
    };
    let Ok(input) = body.stream() else {
        return Answer(400, "no request body\n".into());
    };
    let value = OutgoingValue::new_outgoing_value();
    let Ok(output) = value.outgoing_value_write_body() else {
        return Answer(500, "the blob store gave no body stream\n".into());
    };
    if let Err(error) = files.write_data(name, &value) {
        return failed(error);
    }
    let moved = splice_all(&input, &output);
    // The stream goes before `finish`, as the contract says.
    drop(output);
    drop(input);
    let moved = match moved {
        Ok(moved) => moved,
        // The value is dropped unfinished: nothing is published.
        Err(error) => return failed(error),
    };
    match OutgoingValue::finish(value) {
        Ok(()) => Answer(201, format!("{moved}\n")),
        Err(error) => failed(error),
    }
}

/// The object `name`: its size and its bytes as a stream.
fn open(files: &Container, name: &str) -> Result<(u64, InputStream), Answer> {
    let info = files.object_info(name).map_err(failed)?;
    let value = files
        .get_data(name, 0, info.size.saturating_sub(1))
        .map_err(failed)?;
    let input = IncomingValue::incoming_value_consume_async(value).map_err(failed)?;
    Ok((info.size, input))
}

/// Answers 200 with `size` bytes from `input`.
fn send(response_out: ResponseOutparam, size: u64, input: &InputStream) {
    let headers = Fields::new();
    let _ = headers.set("content-length", &[size.to_string().into_bytes()]);
    let response = OutgoingResponse::new(headers);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(out) = body.write() {
        let _ = splice_all(input, &out);
    }
    let _ = OutgoingBody::finish(body, None);
}

impl ::wasi::exports::http::incoming_handler::Guest for Blobby {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let files = match files() {
            Ok(files) => files,
            Err(error) => return respond(response_out, failed(error)),
        };
        let answer = match (request.method(), name.is_empty()) {
            (Method::Get, true) => list(&files),
            (Method::Get, false) => match open(&files, &name) {
                Ok((size, input)) => return send(response_out, size, &input),
                Err(answer) => answer,
            },
            (Method::Put, false) => put(&files, &name, request),
            (Method::Delete, false) => match files.delete_object(&name) {
                Ok(()) => Answer(204, String::new()),
                Err(error) => failed(error),
            },
            _ => Answer(405, "PUT, GET or DELETE /NAME; GET / lists\n".into()),
        };
        respond(response_out, answer);
    }
}

fn respond(response_out: ResponseOutparam, Answer(status, text): Answer) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(out) = body.write() {
        // At most 4096 bytes per blocking write.
        for piece in text.as_bytes().chunks(4096) {
            if out.blocking_write_and_flush(piece).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
