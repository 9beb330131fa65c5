//! The CLI's contract with people and scripts: clear messages and exit codes on bad input (and
//! nothing queued when the input is refused), JSON errors with `--json`, passwords never taken on
//! the command line, and notes kept through `discard`.

use framenote_tests::cli_support::Cli;
use serde_json::Value;

fn local_library(cli: &Cli) -> anyhow::Result<(tempfile::TempDir, String)> {
    let library = tempfile::tempdir()?;
    framenote_tests::platform_server::make_clip(
        &library.path().join("a.mp4"),
        "25",
        1.0,
        "10:00:00:00",
    )?;
    cli.ok(&[
        "login",
        "--platform",
        "local",
        "--url",
        &library.path().display().to_string(),
    ])?;
    cli.ok(&["sync"])?;
    Ok((library, "a.mp4".to_owned()))
}

#[test]
fn usage_errors_exit_2_and_queue_nothing() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let none = cli.run(&["notes"])?;
    assert_eq!(
        none.status.code(),
        Some(2),
        "no account yet is a usage error"
    );
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("framenote login"),
        "and says what to do"
    );

    let (_library, asset) = local_library(&cli)?;
    let outside = cli.run(&["note", "--asset", &asset, "--frame", "25", "too far"])?;
    assert_eq!(outside.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("outside the clip"));

    let bad = cli.data.path().join("bad.json");
    std::fs::write(&bad, "{\"shapes\": [{\"type\": \"blob\"}]}")?;
    let drawing = cli.run(&[
        "note",
        "--asset",
        &asset,
        "--frame",
        "3",
        "--drawing",
        &bad.display().to_string(),
        "x",
    ])?;
    assert_eq!(
        drawing.status.code(),
        Some(2),
        "a malformed drawing is refused"
    );

    let timecode = cli.run(&["note", "--asset", &asset, "--timecode", "10:00:00:99", "x"])?;
    assert_eq!(
        timecode.status.code(),
        Some(2),
        "an impossible timecode is refused"
    );

    let unknown = cli.run(&["frobnicate"])?;
    assert_eq!(unknown.status.code(), Some(2));

    let json_error = cli.run(&["--json", "note", "--asset", "nope", "x"])?;
    assert_eq!(json_error.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&json_error.stdout)?;
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("nope")),
        "{v}"
    );

    let status = cli.json(&["status"])?;
    assert_eq!(
        status["outbox"]["queued"], 0,
        "nothing was queued by refused input: {status}"
    );
    Ok(())
}

#[test]
fn passwords_are_never_taken_from_arguments() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let out = cli.run(&[
        "login",
        "--platform",
        "kitsu",
        "--url",
        "http://127.0.0.1:9/api",
        "--user",
        "a@example.com",
    ])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--password-env"),
        "says how to give it"
    );
    let unknown = cli.run(&[
        "login",
        "--platform",
        "kitsu",
        "--url",
        "http://x",
        "--password",
        "hunter2",
    ])?;
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "there is no --password flag"
    );
    Ok(())
}

#[test]
fn a_discarded_note_is_kept_and_a_retried_one_is_posted() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let (_library, asset) = local_library(&cli)?;
    let first = cli.json(&["note", "--asset", &asset, "--frame", "2", "keep me"])?;
    let second = cli.json(&["note", "--asset", &asset, "--frame", "3", "post me"])?;
    let ops = cli.json(&["notes", "--unsent"])?;
    let op_of = |note: &Value| -> Option<i64> {
        let id = &note["note"]["note"]["id"];
        ops["operations"]
            .as_array()?
            .iter()
            .find(|op| &op["note"] == id)?["id"]
            .as_i64()
    };
    let discard = op_of(&first).ok_or_else(|| anyhow::anyhow!("no op: {ops}"))?;
    assert!(op_of(&second).is_some());
    cli.ok(&["discard", &discard.to_string()])?;
    let pushed = cli.json(&["push"])?;
    assert_eq!(
        pushed["report"]["sent"], 1,
        "only the note not discarded is posted: {pushed}"
    );
    let all = cli.json(&["notes"])?;
    let states: Vec<(&str, &str)> = all["notes"]
        .as_array()
        .map(|notes| {
            notes
                .iter()
                .filter_map(|n| Some((n["note"]["text"].as_str()?, n["sync_state"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    assert!(states.contains(&("keep me", "discarded")), "{states:?}");
    assert!(states.contains(&("post me", "sent")), "{states:?}");
    Ok(())
}
