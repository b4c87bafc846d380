//! WAGI: an HTTP request served by a WASI command component (one that
//! exports `wasi:cli/run` and no `wasi:http`), as the WebAssembly Gateway
//! Interface does it: the request goes in as CGI environment variables and
//! stdin, the response comes out of stdout as CGI headers, a blank line and
//! the body. Any language that compiles to a WASI command then serves HTTP.
//!
//! This module holds the pure parts: the environment a request becomes and
//! the response a program's output becomes. [`super::Actor`] runs the
//! program, a fresh instance per request, under the actor's limits.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};

/// The export that makes a component a WASI command.
pub(crate) const CLI_RUN: &str = "wasi:cli/run";

/// Most bytes a program's response (headers and body) may take.
pub(crate) const MAX_OUTPUT_BYTES: usize = 16 << 20;

/// Most bytes of a request body handed to a program on stdin.
pub(crate) const MAX_INPUT_BYTES: usize = 16 << 20;

/// Most bytes of CGI headers read before the blank line.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// The CGI environment of a request (RFC 3875, plus WAGI's `X_*`
/// variables): `REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`,
/// `CONTENT_TYPE`, `CONTENT_LENGTH`, `SERVER_NAME`, `SERVER_PORT`, and each
/// header as `HTTP_NAME` (upper case, `-` as `_`). The whole path is
/// `PATH_INFO` (`SCRIPT_NAME` is empty): a link serves the program at the
/// address and path prefix its config names.
pub(crate) fn environment(head: &http::request::Parts, body_len: usize) -> Vec<(String, String)> {
    let uri = &head.uri;
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let host = head
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("");
    let (server_name, server_port) = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => (name, port),
        _ => (host, "80"),
    };
    let mut env = vec![
        ("GATEWAY_INTERFACE".to_string(), "CGI/1.1".to_string()),
        ("SERVER_SOFTWARE".to_string(), "Lattice".to_string()),
        ("SERVER_PROTOCOL".to_string(), format!("{:?}", head.version)),
        ("REQUEST_METHOD".to_string(), head.method.to_string()),
        ("SCRIPT_NAME".to_string(), String::new()),
        ("PATH_INFO".to_string(), path.to_string()),
        ("X_RAW_PATH_INFO".to_string(), path.to_string()),
        ("QUERY_STRING".to_string(), query.to_string()),
        ("SERVER_NAME".to_string(), server_name.to_string()),
        ("SERVER_PORT".to_string(), server_port.to_string()),
        ("CONTENT_LENGTH".to_string(), body_len.to_string()),
        (
            "X_FULL_URL".to_string(),
            format!(
                "http://{host}{}",
                uri.path_and_query().map_or("/", |p| p.as_str())
            ),
        ),
    ];
    if let Some(content_type) = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        env.push(("CONTENT_TYPE".to_string(), content_type.to_string()));
    }
    for (name, value) in &head.headers {
        // Only text values: a program reads its environment as strings.
        let Ok(value) = value.to_str() else { continue };
        let name = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        match env.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => env.push((name, value.to_string())),
        }
    }
    env
}

/// Why a program's output is not a response. One line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadOutput {
    /// No blank line ends the headers (or nothing was written).
    #[error("wrote no CGI headers (a `Content-Type:` line, a blank line, then the body)")]
    NoHeaders,
    /// A header line that is not `Name: value`.
    #[error("wrote a bad CGI header line {0:?}")]
    BadHeader(String),
    /// A `Status:` that is not a three-digit code.
    #[error("wrote a bad CGI status {0:?}")]
    BadStatus(String),
    /// Headers but none of the CGI fields a response needs.
    #[error("wrote headers without Content-Type, Location or Status")]
    NoCgiField,
}

/// The response in a program's `output`: CGI headers (`Status: 404 Not
/// Found`, `Location:`, `Content-Type:`, any other header), a blank line
/// (`\n\n` or `\r\n\r\n`), the body. `Location` without `Status` is a 302.
pub(crate) fn response(output: Bytes) -> Result<Response<Bytes>, BadOutput> {
    let (head, body_start) = split_head(&output).ok_or(BadOutput::NoHeaders)?;
    let mut builder = Response::builder();
    let mut status = None;
    let mut has_location = false;
    let mut has_cgi_field = false;
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let shown = || String::from_utf8_lossy(line.get(..80).unwrap_or(line)).into_owned();
        let Some((name, value)) = line
            .iter()
            .position(|b| *b == b':')
            .map(|colon| line.split_at(colon))
        else {
            return Err(BadOutput::BadHeader(shown()));
        };
        let name =
            HeaderName::from_bytes(name.trim_ascii()).map_err(|_| BadOutput::BadHeader(shown()))?;
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if name.as_str() == "status" {
            has_cgi_field = true;
            status = Some(status_code(value).ok_or_else(|| {
                BadOutput::BadStatus(
                    String::from_utf8_lossy(value.get(..40).unwrap_or(value)).into_owned(),
                )
            })?);
            continue;
        }
        if name == http::header::LOCATION {
            has_location = true;
        }
        if name == http::header::CONTENT_TYPE || name == http::header::LOCATION {
            has_cgi_field = true;
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| BadOutput::BadHeader(shown()))?;
        builder = builder.header(name, value);
    }
    if !has_cgi_field {
        return Err(BadOutput::NoCgiField);
    }
    let status = status.unwrap_or(if has_location {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    builder
        .status(status)
        .body(output.slice(body_start..))
        .map_err(|e| BadOutput::BadHeader(e.to_string()))
}

/// `404` or `404 Not Found`: a code from 100 to 599, then nothing or a
/// space and a reason.
fn status_code(value: &[u8]) -> Option<StatusCode> {
    let (code, rest) = value.split_at_checked(3)?;
    if !(rest.is_empty() || rest.starts_with(b" ")) {
        return None;
    }
    std::str::from_utf8(code)
        .ok()?
        .parse::<u16>()
        .ok()
        .filter(|c| (100..600).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
}

/// The header lines of `output` (the first [`MAX_HEADER_BYTES`] at most)
/// and where the body starts: after the first empty line.
fn split_head(output: &[u8]) -> Option<(&[u8], usize)> {
    let window = output.get(..MAX_HEADER_BYTES).unwrap_or(output);
    let mut start = 0;
    let mut rest = window;
    while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
        let (line, after) = rest.split_at(newline);
        if line.is_empty() || line == b"\r" {
            return Some((window.get(..start)?, start + newline + 1));
        }
        start += newline + 1;
        rest = after.get(1..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build.
    use super::*;

    fn head(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request = http::Request::builder().method("POST").uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_request_becomes_cgi_variables() {
        let env = environment(
            &head(
                "/orders/7?full=1",
                &[
                    ("host", "shop.example:8080"),
                    ("content-type", "text/plain"),
                    ("x-trace", "a"),
                    ("x-trace", "b"),
                ],
            ),
            5,
        );
        assert_eq!(var(&env, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(var(&env, "PATH_INFO"), Some("/orders/7"));
        assert_eq!(var(&env, "QUERY_STRING"), Some("full=1"));
        assert_eq!(var(&env, "CONTENT_LENGTH"), Some("5"));
        assert_eq!(var(&env, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&env, "SERVER_NAME"), Some("shop.example"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("8080"));
        assert_eq!(var(&env, "HTTP_X_TRACE"), Some("a, b"));
        assert_eq!(
            var(&env, "X_FULL_URL"),
            Some("http://shop.example:8080/orders/7?full=1")
        );
    }

    #[test]
    fn cgi_output_becomes_a_response() {
        let ok = response(Bytes::from_static(b"Content-Type: text/plain\n\nhello\n")).unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "text/plain");
        assert_eq!(ok.body(), &Bytes::from_static(b"hello\n"));

        let missing = response(Bytes::from_static(
            b"Status: 404 Not Found\r\nX-A: b\r\n\r\nnope",
        ))
        .unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers()["x-a"], "b");
        assert_eq!(missing.body(), &Bytes::from_static(b"nope"));

        let moved = response(Bytes::from_static(b"Location: /there\n\n")).unwrap();
        assert_eq!(moved.status(), 302);
        assert_eq!(moved.body(), &Bytes::new());
    }

    #[test]
    fn garbage_output_is_refused_with_the_reason() {
        type Expected = fn(&BadOutput) -> bool;
        let cases: [(&[u8], Expected); 7] = [
            (b"", |e| *e == BadOutput::NoHeaders),
            (b"just a body", |e| *e == BadOutput::NoHeaders),
            (b"Content-Type: text/plain", |e| *e == BadOutput::NoHeaders),
            (b"no colon here\n\nbody", |e| {
                matches!(e, BadOutput::BadHeader(_))
            }),
            (b"Bad Name: x\n\n", |e| matches!(e, BadOutput::BadHeader(_))),
            (b"Status: teapot\n\n", |e| {
                matches!(e, BadOutput::BadStatus(_))
            }),
            (b"X-Only: 1\n\nbody", |e| *e == BadOutput::NoCgiField),
        ];
        for (output, expected) in cases {
            let error = response(Bytes::from_static(output)).unwrap_err();
            assert!(expected(&error), "{output:?}: {error:?}");
        }
        // Bytes that are not text, and a status out of range.
        assert!(response(Bytes::from_static(b"\xff\xfe: \x00\n\n")).is_err());
        assert!(response(Bytes::from_static(b"Status: 999 Odd\n\n")).is_err());
        assert!(response(Bytes::from_static(b"Status: 2000\n\n")).is_err());
    }
}
