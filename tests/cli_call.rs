//! `lattice-ctl call`: an operator calls any exported function of a running
//! actor, arguments and results in WAVE, with no link. Garbage is refused
//! in one line naming the argument and the type it wanted, and the actor
//! keeps serving.

use std::process::Output;

use lattice_tests::hosts;
use lattice_tests::nats::NatsServer;

fn call(url: &str, args: &[&str]) -> Output {
    lattice_tests::process::lattice_ctl()
        .arg("call")
        .args(args)
        .args(["--nats-url", url])
        .output()
        .unwrap()
}

fn answer(output: &Output) -> String {
    lattice_tests::process::succeeded(output).trim().to_string()
}

/// The one line `output` failed with.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "unexpectedly succeeded");
    let error = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert_eq!(error.lines().count(), 1, "{error}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_runs_an_exported_function_with_wave_arguments_and_refuses_garbage() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = hosts::dev_lattice(&url).await;
    hosts::start_fixture(&host, "uppercase", "uppercase").await;
    let upper = "example:uppercase/convert.upper";

    assert_eq!(
        answer(&call(&url, &["uppercase", upper, r#""hello, lattice""#])),
        r#""HELLO, LATTICE""#
    );
    assert_eq!(
        answer(&call(
            &url,
            &[
                "uppercase",
                "example:uppercase/convert@0.1.0.analyze",
                r#""two words""#
            ]
        )),
        "{chars: 9, words: 2}"
    );
    let json = lattice_tests::process::lattice_ctl()
        .args([
            "call",
            "uppercase",
            upper,
            r#""x""#,
            "-o",
            "json",
            "--nats-url",
            &url,
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["results"], serde_json::json!([r#""X""#]));
    assert_eq!(json["host_id"], host.id().as_str());

    let error = refusal(&call(&url, &["uppercase", upper, "42"]));
    assert!(
        error.contains("argument 1 (text: string) of upper: 42"),
        "{error}"
    );
    let error = refusal(&call(&url, &["uppercase", upper, r#""unclosed"#]));
    assert!(error.contains("argument 1 (text: string)"), "{error}");
    let error = refusal(&call(&url, &["uppercase", upper]));
    assert!(
        error.contains("upper takes 1 argument(s) (text: string); 0 given"),
        "{error}"
    );
    let error = refusal(&call(
        &url,
        &["uppercase", "example:uppercase/convert.shout", r#""x""#],
    ));
    assert!(
        error.contains("has no function shout in example:uppercase/convert"),
        "{error}"
    );
    let error = refusal(&call(
        &url,
        &["uppercase", "wasi:http/incoming-handler.handle"],
    ));
    assert!(
        error.contains("does not export wasi:http/incoming-handler"),
        "{error}"
    );
    let error = refusal(&call(&url, &["uppercase", "upper", r#""x""#]));
    assert!(error.contains("ns:pkg/interface.function"), "{error}");
    let error = refusal(&call(&url, &["ghost", upper, r#""x""#]));
    assert!(error.contains("runs actor ghost"), "{error}");

    // Still serving after all of that.
    assert_eq!(
        answer(&call(&url, &["uppercase", upper, r#""ok""#])),
        r#""OK""#
    );
    hosts::leave(lattice, host).await;
}
