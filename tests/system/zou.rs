//! The real Zou (Kitsu API) server the Kitsu tests run against: started once per test binary run
//! by `scripts/zou.sh` on loopback with free ports, stopped by PID by a watchdog when this process
//! exits (even after a panic), and seeded through Zou's own REST API as its admin.
//!
//! The seed is what a review needs: three projects (24, 23.976 and 29.97 fps, 640×360), each with
//! a sequence, a shot, an Animation task assigned to an artist and a preview movie with audio made
//! by ffmpeg (silent H.264 with B-frames comes out "broken" on Debian's ffmpeg 5.1), left in the
//! "waiting for approval" status so that it shows up in the supervisor's "to check" list; a
//! supervisor and an artist user in every team. Tests share it and create their own notes, so
//! they never depend on each other's order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The reviewer (role `supervisor`: may comment, change status and draw).
pub const SUPERVISOR: (&str, &str) = ("sup@example.com", "supervisorpassword");
/// The artist (role `user`: may comment on own tasks; drawing is refused with 403).
pub const ARTIST: (&str, &str) = ("art@example.com", "artistpassword");

/// A running, seeded Zou.
#[derive(Debug)]
pub struct Zou {
    /// REST base, `http://127.0.0.1:PORT/api`.
    pub api: String,
    /// Event stream base, `http://127.0.0.1:PORT` (socket.io at `/socket.io`).
    pub events: String,
    /// Admin login.
    pub admin: (String, String),
    /// Its data directory (logs under `logs/`).
    pub data_dir: PathBuf,
    /// Seconds `scripts/zou.sh start` took (fresh database).
    pub start_seconds: f64,
    /// Seconds seeding took (three movie uploads included).
    pub seed_seconds: f64,
    /// What was created.
    pub seed: Seed,
}

/// Ids of what the seed created.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Task status ids by short name (`todo`, `wfa`, `done`, `retake`, …).
    pub status: HashMap<String, String>,
    /// One project per frame rate, by the fps string given to Zou ("24", "23.976", "29.97").
    pub projects: HashMap<String, SeedProject>,
}

impl Seed {
    /// The seeded project at frame rate `fps` ("24", "23.976", "29.97").
    pub fn project(&self, fps: &str) -> anyhow::Result<SeedProject> {
        self.projects
            .get(fps)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no seeded {fps} fps project"))
    }
}

/// One seeded project.
#[derive(Debug, Clone)]
pub struct SeedProject {
    /// Project id.
    pub id: String,
    /// The Animation task on the shot.
    pub task_id: String,
    /// The preview file (revision 1).
    pub preview_id: String,
    /// A task with no preview yet, in "waiting for approval", for upload tests.
    pub upload_task_id: String,
}

/// The shot name per project, so that asset names differ between projects.
pub fn shot_name(fps: &str) -> String {
    match fps {
        "24" => "SH024".to_owned(),
        "23.976" => "SH023".to_owned(),
        "23.976 status" => "SH023S".to_owned(),
        _ => "SH029".to_owned(),
    }
}

/// How the connector names the seeded task of the `fps` project.
pub fn asset_name(fps: &str) -> String {
    format!("SQ01 / {} · Animation", shot_name(fps))
}

static ZOU: OnceCell<Result<Arc<Zou>, String>> = OnceCell::const_new();

/// The shared server, started and seeded by the first caller.
pub async fn zou() -> Arc<Zou> {
    let outcome = ZOU
        .get_or_init(|| async {
            start_and_seed()
                .await
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        })
        .await;
    match outcome {
        Ok(zou) => Arc::clone(zou),
        Err(e) => panic!("the Zou test server could not be started: {e}"),
    }
}

fn repo_root() -> PathBuf {
    // tests/ is one level below the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

async fn start_and_seed() -> anyhow::Result<Zou> {
    let data_dir = std::env::temp_dir().join(format!("framenote-zou-{}", std::process::id()));
    let script = repo_root().join("scripts/zou.sh");
    let started = Instant::now();
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .args(["start", "--watch", &std::process::id().to_string()])
        .env("ZOU_DATA", &data_dir)
        .env_remove("ZOU_PORT")
        .env_remove("ZOU_EVENTS_PORT")
        .env_remove("PG_PORT")
        .env_remove("REDIS_PORT")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    let start_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "scripts/zou.sh start failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let vars: HashMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .with_context(|| format!("zou.sh printed no {k}"))
    };
    let api = get("ZOU_API")?;
    let events = get("ZOU_EVENTS")?;
    let admin = (get("ADMIN_EMAIL")?, get("ADMIN_PASSWORD")?);
    eprintln!(
        "zou: started in {start_seconds:.1} s at {api} (data {})",
        data_dir.display()
    );

    let seeded = Instant::now();
    let admin_api = Admin::login(&api, &admin.0, &admin.1).await?;
    let seed = seed(&admin_api, &data_dir).await?;
    let seed_seconds = seeded.elapsed().as_secs_f64();
    eprintln!("zou: seeded in {seed_seconds:.1} s");
    Ok(Zou {
        api,
        events,
        admin,
        data_dir,
        start_seconds,
        seed_seconds,
        seed,
    })
}

/// Zou's REST API as a given user, for seeding and for checking server-side state.
pub struct Admin {
    /// REST base.
    pub api: String,
    client: reqwest::Client,
    token: String,
}

impl Admin {
    /// Signs in.
    pub async fn login(api: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let answer: Value = client
            .post(format!("{api}/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = answer["access_token"]
            .as_str()
            .context("login gave no access_token")?
            .to_owned();
        Ok(Self {
            api: api.to_owned(),
            client,
            token,
        })
    }

    /// GET `path` as JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self
            .client
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status}: {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// POST (or PUT) `body` to `path`, JSON in and out.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let answer = self
            .client
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let text = answer.text().await?;
        anyhow::ensure!(status.is_success(), "{method} {path}: {status}: {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Uploads a movie to a preview file (multipart field `file`).
    pub async fn upload_preview(&self, preview_id: &str, movie: &Path) -> anyhow::Result<Value> {
        let bytes = tokio::fs::read(movie).await?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("seed.mp4")
            .mime_str("video/mp4")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let answer = self
            .client
            .post(format!("{}/pictures/preview-files/{preview_id}", self.api))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        let status = answer.status();
        let text = answer.text().await?;
        anyhow::ensure!(status.is_success(), "upload: {status}: {text}");
        let value: Value = serde_json::from_str(&text)?;
        anyhow::ensure!(
            value["status"] == "ready",
            "preview not ready after upload: {value}"
        );
        Ok(value)
    }
}

fn id(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {v}"))
}

/// Makes a `seconds`-long 640×360 movie with an audio track at `rate` (an ffmpeg rate string).
pub async fn make_movie(dir: &Path, rate: &str, seconds: u32) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("movie-{}.mp4", rate.replace('/', "_")));
    if path.exists() {
        return Ok(path);
    }
    let status = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=size=640x360:rate={rate}"))
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
        ])
        .arg(seconds.to_string())
        .args([
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .await
        .context("running ffmpeg")?;
    anyhow::ensure!(status.success(), "ffmpeg failed making {}", path.display());
    Ok(path)
}

async fn seed(admin: &Admin, data_dir: &Path) -> anyhow::Result<Seed> {
    let statuses = admin.get("/data/task-status").await?;
    let status: HashMap<String, String> = statuses
        .as_array()
        .context("task-status is not a list")?
        .iter()
        .filter_map(|s| {
            Some((
                s["short_name"].as_str()?.to_owned(),
                s["id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let task_types = admin.get("/data/task-types").await?;
    let animation = task_types
        .as_array()
        .and_then(|l| l.iter().find(|t| t["name"] == "Animation"))
        .context("no Animation task type")?;
    let animation_id = id(animation)?;

    let supervisor = admin
        .post(
            "/data/persons",
            json!({"first_name": "Sam", "last_name": "Supervisor", "email": SUPERVISOR.0,
                   "role": "supervisor", "password": SUPERVISOR.1}),
        )
        .await?;
    let artist = admin
        .post(
            "/data/persons",
            json!({"first_name": "Ann", "last_name": "Artist", "email": ARTIST.0,
                   "role": "user", "password": ARTIST.1}),
        )
        .await?;
    let supervisor_id = id(&supervisor)?;
    let artist_id = id(&artist)?;

    let media_dir = data_dir.join("media");
    tokio::fs::create_dir_all(&media_dir).await?;
    // The three projects are seeded at once: most of the time goes into Zou transcoding the
    // uploads, and its two workers can do two at a time.
    let seeds = [
        ("24", "24"),
        ("23.976", "24000/1001"),
        ("29.97", "30000/1001"),
    ]
    .map(|(fps, rate)| {
        seed_project(
            admin,
            fps,
            rate,
            &status,
            &animation_id,
            [&supervisor_id, &artist_id],
            &media_dir,
        )
    });
    let projects: HashMap<String, SeedProject> = futures::future::try_join_all(seeds)
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(Seed { status, projects })
}

/// A task on `shot` assigned to the artist, with revision 1 delivered by a comment that asks
/// for review (status `wfa`), so that it shows in the supervisor's "to check" list.
#[allow(clippy::too_many_arguments)]
async fn reviewable_task(
    admin: &Admin,
    project: &str,
    shot: &str,
    task_type: &str,
    status: &HashMap<String, String>,
    artist: &str,
    media_dir: &Path,
    ffmpeg_rate: &str,
) -> anyhow::Result<(String, String)> {
    let task = admin
        .post(
            "/data/tasks",
            json!({"project_id": project, "entity_id": shot, "task_type_id": task_type,
                   "task_status_id": status["todo"], "name": "main", "assignees": [artist]}),
        )
        .await?;
    let task_id = id(&task)?;
    let comment = admin
        .post(
            &format!("/actions/tasks/{task_id}/comment"),
            json!({"task_status_id": status["wfa"], "comment": "Blocking pass v1, please review"}),
        )
        .await?;
    let preview = admin
        .post(
            &format!(
                "/actions/tasks/{task_id}/comments/{}/add-preview",
                id(&comment)?
            ),
            json!({}),
        )
        .await?;
    let preview_id = id(&preview)?;
    let movie = make_movie(media_dir, ffmpeg_rate, 4).await?;
    admin.upload_preview(&preview_id, &movie).await?;
    Ok((task_id, preview_id))
}

/// One project at frame rate `fps`: team, settings, a sequence, the reviewable task(s) and the
/// empty upload task.
async fn seed_project(
    admin: &Admin,
    fps: &str,
    ffmpeg_rate: &str,
    status: &HashMap<String, String>,
    animation_id: &str,
    [supervisor_id, artist_id]: [&String; 2],
    media_dir: &Path,
) -> anyhow::Result<Vec<(String, SeedProject)>> {
    let mut out = Vec::new();
    let name = format!("Framenote CI {fps}");
    let project = admin
        .post(
            "/data/projects",
            json!({"name": name, "production_type": "short", "fps": fps,
                   "resolution": "640x360", "ratio": "16:9"}),
        )
        .await?;
    let pid = id(&project)?;
    for person in [&supervisor_id, &artist_id] {
        admin
            .post(
                &format!("/data/projects/{pid}/team"),
                json!({"person_id": person}),
            )
            .await?;
    }
    admin
        .post(
            &format!("/data/projects/{pid}/settings/task-types"),
            json!({"task_type_id": animation_id}),
        )
        .await?;
    for short in ["todo", "wip", "wfa", "retake", "done"] {
        let sid = status
            .get(short)
            .with_context(|| format!("no {short} status"))?;
        admin
            .post(
                &format!("/data/projects/{pid}/settings/task-status"),
                json!({"task_status_id": sid}),
            )
            .await?;
    }
    let sequence = admin
        .post(
            &format!("/data/projects/{pid}/sequences"),
            json!({"name": "SQ01"}),
        )
        .await?;
    let shot = admin
        .post(
            &format!("/data/projects/{pid}/shots"),
            json!({"name": shot_name(fps), "sequence_id": id(&sequence)?, "nb_frames": 96,
                   "data": {"frame_in": 1001, "frame_out": 1096}}),
        )
        .await?;
    let shot_id = id(&shot)?;
    let (task_id, preview_id) = reviewable_task(
        admin,
        &pid,
        &shot_id,
        animation_id,
        status,
        artist_id,
        media_dir,
        ffmpeg_rate,
    )
    .await?;
    if fps == "23.976" {
        // A task of its own for the status-change test: a retake moves it out of "to check".
        let shot = admin
            .post(
                &format!("/data/projects/{pid}/shots"),
                json!({"name": shot_name("23.976 status"), "sequence_id": id(&sequence)?, "nb_frames": 96,
                       "data": {"frame_in": 1001, "frame_out": 1096}}),
            )
            .await?;
        let (task_id, preview_id) = reviewable_task(
            admin,
            &pid,
            &id(&shot)?,
            animation_id,
            status,
            artist_id,
            media_dir,
            ffmpeg_rate,
        )
        .await?;
        out.push((
            "23.976 status".to_owned(),
            SeedProject {
                id: pid.clone(),
                task_id,
                preview_id,
                upload_task_id: String::new(),
            },
        ));
    }
    // An empty task waiting for review, where the upload step adds revision 1.
    let upload_shot = admin
        .post(
            &format!("/data/projects/{pid}/shots"),
            json!({"name": format!("{}U", shot_name(fps)), "sequence_id": id(&sequence)?}),
        )
        .await?;
    let upload_task = admin
        .post(
            "/data/tasks",
            json!({"project_id": pid, "entity_id": id(&upload_shot)?, "task_type_id": animation_id,
                   "task_status_id": status["wfa"], "name": "main", "assignees": [artist_id]}),
        )
        .await?;
    out.push((
        fps.to_owned(),
        SeedProject {
            id: pid,
            task_id,
            preview_id,
            upload_task_id: id(&upload_task)?,
        },
    ));
    Ok(out)
}
