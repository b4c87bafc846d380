//! A WAGI handler: an ordinary program with `main`, built as a WASI
//! command. Lattice runs it once per request, with the request in CGI
//! environment variables and the body on stdin, and reads the response
//! from stdout: CGI headers, a blank line, then the body.
//!
//! - `GET /` and any other path: a greeting naming the method and path;
//! - `POST /echo`: the request body back, upper-cased;
//! - `GET /missing`: `Status: 404`.

use std::io::{Read, Write};

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let method = var("REQUEST_METHOD");
    let path = var("PATH_INFO");
    let query = var("QUERY_STRING");
    let mut out = std::io::stdout().lock();
    match (method.as_str(), path.as_str()) {
        ("POST", "/echo") => {
            let mut body = String::new();
            // A body that is not text is answered as far as it read.
            let _ = std::io::stdin().read_to_string(&mut body);
            let _ = write!(out, "Content-Type: text/plain\n\n{}", body.to_uppercase());
        }
        (_, "/missing") => {
            let _ = write!(
                out,
                "Status: 404 Not Found\nContent-Type: text/plain\n\nno such page: {path}\n"
            );
        }
        _ => {
            let _ = write!(
                out,
                "Content-Type: text/plain\n\nHello from WAGI! {method} {path}{}{query}\n",
                if query.is_empty() { "" } else { "?" }
            );
        }
    }
}
