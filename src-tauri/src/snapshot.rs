//! `framenote snapshot`: one exact frame of a media file as PNG, through the player's own frame
//! source, so the picture is the one the viewer shows for that number. Also the `save_snapshot`
//! command: the same frame, with the reviewer's drawing composited over it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use framenote_player::FrameTarget;

const USAGE: &str = "usage: framenote snapshot <media> (--frame N | --timecode TC | --index I) -o out.png [--size WxH]
  --frame N      the frame number as the media counts it (first frame + index, e.g. 1047)
  --timecode TC  a timecode on the media's clock (01:00:01:23, or 00:59:59;29 for drop-frame)
  --index I      0-based position from the first frame
  --size WxH     fit into this box (aspect kept); full size when absent";

/// Runs the subcommand; `args` follow the word `snapshot`.
pub fn run(args: &[OsString]) -> ExitCode {
    match parse(args).and_then(|(media, target, size, out)| {
        let png = framenote_player::snapshot(&media, target, size).map_err(|e| e.to_string())?;
        std::fs::write(&out, png).map_err(|e| format!("writing {}: {e}", out.display()))?;
        Ok(out)
    }) {
        Ok(out) => {
            println!("{}", out.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("framenote snapshot: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

type Parsed = (PathBuf, FrameTarget, Option<(u32, u32)>, PathBuf);

fn parse(args: &[OsString]) -> Result<Parsed, String> {
    let mut media = None;
    let mut target = None;
    let mut size = None;
    let mut out = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--frame" => {
                let n = value("--frame")?;
                target = Some(FrameTarget::DisplayNumber(
                    n.parse()
                        .map_err(|_| format!("{n:?} is not a frame number"))?,
                ));
            }
            "--index" => {
                let n = value("--index")?;
                target = Some(FrameTarget::Index(
                    n.parse().map_err(|_| format!("{n:?} is not an index"))?,
                ));
            }
            "--timecode" => target = Some(FrameTarget::Timecode(value("--timecode")?)),
            "-o" | "--output" => out = Some(PathBuf::from(value("-o")?)),
            "--size" => {
                let v = value("--size")?;
                let (w, h) = v
                    .split_once('x')
                    .ok_or_else(|| format!("{v:?} is not WxH"))?;
                size = Some((
                    w.parse().map_err(|_| format!("{w:?} is not a width"))?,
                    h.parse().map_err(|_| format!("{h:?} is not a height"))?,
                ));
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => media = Some(PathBuf::from(other)),
        }
    }
    Ok((
        media.ok_or("which media file?")?,
        target.ok_or("which frame? (--frame, --timecode or --index)")?,
        size,
        out.ok_or("where to? (-o out.png)")?,
    ))
}

/// Puts `overlay` (RGBA PNG, any size: scaled to the frame) over `frame` (PNG) with straight
/// alpha, and returns the PNG. Used by `save_snapshot` for drawings.
pub fn composite(frame_png: &[u8], overlay_png: &[u8]) -> Result<Vec<u8>, String> {
    let (fw, fh, mut base) = decode_rgba(frame_png)?;
    let (ow, oh, over) = decode_rgba(overlay_png)?;
    for y in 0..fh {
        let oy = (y as u64 * oh as u64 / fh as u64) as usize;
        for x in 0..fw {
            let ox = (x as u64 * ow as u64 / fw as u64) as usize;
            let o = (oy * ow as usize + ox) * 4;
            let b = (y as usize * fw as usize + x as usize) * 4;
            let a = over[o + 3] as u32;
            if a == 0 {
                continue;
            }
            for c in 0..3 {
                base[b + c] =
                    ((over[o + c] as u32 * a + base[b + c] as u32 * (255 - a)) / 255) as u8;
            }
            base[b + 3] = 255;
        }
    }
    encode_rgba(fw, fh, &base)
}

fn decode_rgba(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("bad PNG: {e}"))?;
    let (w, h) = (info.width, info.height);
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf[..(w * h * 4) as usize].to_vec(),
        png::ColorType::Rgb => buf[..(w * h * 3) as usize]
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => buf[..(w * h * 2) as usize]
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => buf[..(w * h) as usize]
            .iter()
            .flat_map(|&g| [g, g, g, 255])
            .collect(),
        png::ColorType::Indexed => return Err("indexed PNG after expansion".into()),
    };
    Ok((w, h, rgba))
}

fn encode_rgba(w: u32, h: u32, rgba: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgba).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_overlay_pixel_replaces_the_frame_and_a_clear_one_keeps_it() {
        let frame = encode_rgba(2, 1, &[10, 20, 30, 255, 10, 20, 30, 255]).expect("encode");
        let overlay = encode_rgba(2, 1, &[255, 0, 0, 255, 0, 0, 0, 0]).expect("encode");
        let out = composite(&frame, &overlay).expect("composite");
        let (_, _, px) = decode_rgba(&out).expect("decode");
        assert_eq!(&px[..4], &[255, 0, 0, 255], "drawn pixel");
        assert_eq!(&px[4..8], &[10, 20, 30, 255], "untouched pixel");
    }

    #[test]
    fn arguments_are_checked_before_any_decoding() {
        let args: Vec<OsString> = ["clip.mov", "--frame", "x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(parse(&args).is_err_and(|e| e.contains("not a frame number")));
        let args: Vec<OsString> = ["clip.mov", "--frame", "1047", "-o", "f.png"]
            .iter()
            .map(OsString::from)
            .collect();
        let (_, target, _, _) = parse(&args).expect("parses");
        assert_eq!(target, FrameTarget::DisplayNumber(1047));
    }
}
