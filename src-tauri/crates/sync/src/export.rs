//! Notes out of Framenote: an account's notes as CSV (frame numbers and timecode as the player
//! shows them, author, time, state with the platform, text), for platforms without a comment API
//! (Sony Ci keeps notes here) and for anyone who wants them in a spreadsheet. Text is quoted and
//! formula-like cells are defused, so a note can never run as a spreadsheet formula.

use std::collections::HashMap;

use framenote_core::AccountId;
use framenote_core::timecode::FrameClock;
use serde::Serialize;

use crate::{Result, SyncEngine};

/// An export, ready to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotesCsv {
    /// Notes in it.
    pub notes: usize,
    /// The CSV text (header line first).
    pub csv: String,
}

const HEADER: &str = "note_id,remote_id,asset,version,version_label,frame_start,frame_end,timecode,author,created_at,status,sync_state,has_drawing,text\n";

impl SyncEngine {
    /// Every note of `account` (sent or not) as CSV.
    pub async fn notes_csv(&self, account: &AccountId) -> Result<NotesCsv> {
        let notes = self.cache.notes_for_account(account).await?;
        let mut csv = String::from(HEADER);
        let mut versions = HashMap::new();
        for note in &notes {
            if !versions.contains_key(&note.note.version.0) {
                let record = self.cache.version(account, &note.note.version).await.ok();
                versions.insert(note.note.version.0.clone(), record);
            }
            let record = versions.get(&note.note.version.0).and_then(Option::as_ref);
            let clock = record.and_then(|r| {
                FrameClock::new(
                    r.version.media.frame_rate,
                    r.version.media.start_timecode,
                    r.version.media.first_frame,
                )
                .ok()
            });
            let (start, end, timecode) = match (note.note.frames, clock) {
                (Some(span), Some(clock)) => (
                    clock.display_number(span.start as i64).to_string(),
                    clock.display_number(span.end as i64).to_string(),
                    clock.timecode(span.start as i64).to_string(),
                ),
                (Some(span), None) => (span.start.to_string(), span.end.to_string(), String::new()),
                (None, _) => (String::new(), String::new(), String::new()),
            };
            let fields = [
                note.note.id.0.clone(),
                note.note
                    .remote_id
                    .as_ref()
                    .map(|r| r.0.clone())
                    .unwrap_or_default(),
                note.asset.0.clone(),
                note.note.version.0.clone(),
                record.map(|r| r.version.label.clone()).unwrap_or_default(),
                start,
                end,
                timecode,
                note.note.author.clone(),
                note.note.created_at.clone(),
                format!("{:?}", note.note.status).to_lowercase(),
                note.sync_state.key().to_string(),
                note.note.drawing.is_some().to_string(),
                note.note.text.clone(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        Ok(NotesCsv {
            notes: notes.len(),
            csv,
        })
    }
}

/// One CSV cell: quoted when it holds a separator, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` that is not a number gets a `'` so spreadsheets show it instead of evaluating it.
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-12"), "-12", "numbers stay numbers");
    }
}
