//! Entry points for the fuzz targets (`fuzz/`, libFuzzer on nightly) and
//! for the replay of their committed corpus (a plain test on stable): one
//! function per target, which panics when a property does not hold.

use bytes::BytesMut;

use crate::frame::{self, Frame, FrameError, Head, Reader, Settings, DEFAULT_MAX_FRAME_SIZE};
use crate::hpack::{Decoder, Encoder};

mod conversation;
mod grants;
mod peer;

/// A server [`Connection`](crate::Connection) fed a client's arbitrary
/// bytes, in pieces, while a driver answers its streams at random. The
/// first five bytes pick the configuration (small windows and limits),
/// the piece sizes and the driver's choices; the rest follows the client
/// preface. Properties: nothing panics; every frame the server writes
/// parses, its header blocks decode in the client's HPACK state (with the
/// table sizes the client allowed), no DATA passes the windows the
/// client's own frames granted, no frame follows a stream's end, a
/// FLOW_CONTROL_ERROR is only ever the client's due (it overran a window
/// the server granted, or overflowed one), and `open_streams` stays within
/// the concurrency limit.
pub fn connection(data: &[u8]) {
    conversation::run(data);
}

/// The frame reader and parser over arbitrary bytes. The first byte picks
/// the mode: bit 0 set skips the connection preface; the other bits set
/// the size of the pieces the input arrives in. Properties: nothing
/// panics; the input cut into pieces reads as the input whole does, by
/// either of the reader's methods; a stream error names the frame's
/// (nonzero) stream; every frame a writer can produce, written again,
/// parses back equal.
pub fn frames(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let with_preface = mode & 1 == 0;
    let whole = read(with_preface, input, input.len().max(1));
    let piece = usize::from(mode >> 1) + 1;
    assert_eq!(read(with_preface, input, piece), whole, "pieces of {piece}");
    assert_eq!(
        split(with_preface, input, piece),
        whole,
        "split, pieces of {piece}"
    );
    for (head, payload) in &whole.frames {
        check(head, payload);
    }
}

/// What a reader made of an input.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<(Head, Vec<u8>)>,
    error: Option<FrameError>,
}

/// A reader at a connection's start, or past its preface.
fn reader(with_preface: bool) -> Reader {
    if with_preface {
        Reader::new(DEFAULT_MAX_FRAME_SIZE)
    } else {
        Reader::after_preface(DEFAULT_MAX_FRAME_SIZE)
    }
}

/// Reads `input` arriving in pieces of `piece` bytes, with
/// [`Reader::next_frame`].
fn read(with_preface: bool, input: &[u8], piece: usize) -> Outcome {
    let mut reader = reader(with_preface);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for bytes in input.chunks(piece) {
        buf.extend_from_slice(bytes);
        loop {
            match reader.next_frame(&mut buf) {
                Ok(Some((head, payload))) => {
                    assert_eq!(payload.len(), head.length as usize);
                    frames.push((head, payload.to_vec()));
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

/// Reads `input` arriving in pieces of `piece` bytes, with
/// [`Reader::split`].
fn split(with_preface: bool, input: &[u8], piece: usize) -> Outcome {
    let mut reader = reader(with_preface);
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    for bytes in input.chunks(piece) {
        buf.extend_from_slice(bytes);
        loop {
            match reader.split(&buf) {
                Ok(Some(split)) => {
                    assert_eq!(split.payload.len(), split.head.length as usize);
                    assert!(split.consumed <= buf.len());
                    frames.push((split.head, split.payload.to_vec()));
                    let consumed = split.consumed;
                    buf.drain(..consumed);
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

/// Parses one frame and checks what came out.
fn check(head: &Head, payload: &[u8]) {
    match frame::parse(head, payload) {
        Ok(parsed) => {
            match &parsed {
                Frame::Data { data, flow_len, .. } => {
                    assert_eq!(*flow_len, head.length);
                    assert!(data.len() <= payload.len());
                }
                Frame::Headers {
                    reset: Some(error), ..
                } => assert!(
                    matches!(error, FrameError::Stream { stream, .. } if *stream == head.stream),
                    "{error:?}"
                ),
                _ => {}
            }
            if let Some((bytes, expected)) = rewrite(&parsed) {
                assert_eq!(reparse(&bytes).as_ref(), Ok(&expected), "{parsed:?}");
            }
        }
        Err(FrameError::Stream { stream, .. }) => {
            assert_eq!(stream, head.stream);
            assert_ne!(stream, 0);
        }
        Err(FrameError::Connection { .. }) => {}
    }
}

/// The frame written again by its writer, and the frame that should parse
/// from it (padding and priority fields are not written).
fn rewrite<'a>(parsed: &Frame<'a>) -> Option<(Vec<u8>, Frame<'a>)> {
    let mut out = Vec::new();
    let expected = match *parsed {
        Frame::Data {
            stream,
            end_stream,
            data,
            ..
        } => {
            out.extend_from_slice(&frame::data_head(stream, data.len() as u32, end_stream));
            out.extend_from_slice(data);
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len: data.len() as u32,
            }
        }
        Frame::Headers {
            stream,
            end_stream,
            block,
            ..
        } => {
            frame::write_headers(&mut out, stream, block, end_stream, DEFAULT_MAX_FRAME_SIZE);
            Frame::Headers {
                stream,
                end_stream,
                end_headers: true,
                priority: None,
                block,
                reset: None,
            }
        }
        Frame::RstStream { stream, code } => {
            frame::write_rst_stream(&mut out, stream, code);
            parsed.clone()
        }
        Frame::Settings(Settings::Ack) => {
            frame::write_settings_ack(&mut out);
            parsed.clone()
        }
        Frame::Settings(Settings::Params(ref params)) => {
            let settings: Vec<_> = params.clone().collect();
            frame::write_settings(&mut out, &settings);
            parsed.clone()
        }
        Frame::Ping { ack, payload } => {
            frame::write_ping(&mut out, ack, payload);
            parsed.clone()
        }
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => {
            frame::write_goaway(&mut out, last_stream, code, debug);
            parsed.clone()
        }
        Frame::WindowUpdate { stream, increment } => {
            frame::write_window_update(&mut out, stream, increment);
            parsed.clone()
        }
        Frame::Priority { .. }
        | Frame::PushPromise { .. }
        | Frame::Continuation { .. }
        | Frame::Unknown { .. } => return None,
    };
    Some((out, expected))
}

/// Parses bytes that hold exactly one frame.
fn reparse(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (head, payload) = bytes
        .split_first_chunk()
        .expect("a written frame has a head");
    let head = Head::parse(head);
    frame::check_head(&head, DEFAULT_MAX_FRAME_SIZE)?;
    frame::parse(&head, payload)
}

/// HPACK: the input, cut into blocks, through one decoder (never panics,
/// and an accepted block's list size adds up); then the same bytes read as
/// header lists and table size changes, encoded and decoded back whole,
/// with both tables in step.
pub fn hpack(data: &[u8]) {
    decode_blocks(data);
    round_trip(data);
}

/// Blocks of a length byte and that many bytes; the first byte picks the
/// advertised table size (its low 3 bits) and the list limit (the rest:
/// 64 bytes a step, 0 for none).
fn decode_blocks(data: &[u8]) {
    const TABLE_SIZES: [usize; 8] = [4096, 256, 0, 64, 1000, 4095, 8192, 65536];
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::new(TABLE_SIZES[usize::from(setup & 0x07)]);
    let max_list_size = match usize::from(setup >> 3) {
        0 => usize::MAX,
        steps => steps * 64,
    };
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let mut emitted = 0;
        let Ok(decoded) = decoder.decode(block, max_list_size, |name, value| {
            emitted += name.len() + value.len() + 32;
        }) else {
            // A connection error: the connection, and its decoder, end.
            return;
        };
        if decoded.over_limit {
            assert!(decoded.list_size > max_list_size);
            assert!(emitted <= max_list_size);
        } else {
            assert_eq!(decoded.list_size, emitted);
        }
    }
}

/// Reads the input as a script: each field is a control byte (its low bits
/// choose the name, bit 5 sensitivity, bit 6-7 a table size change first,
/// 0b11 ending the block), then a length byte and that many value bytes.
fn round_trip(data: &[u8]) {
    const NAMES: [&[u8]; 8] = [
        b":status",
        b"content-type",
        b"content-length",
        b"date",
        b"set-cookie",
        b"x-custom",
        b"",
        b"server",
    ];
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let mut want = Vec::new();
    let mut block = Vec::new();
    encoder.begin(&mut block);
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let len = tail.first().map_or(0, |&len| usize::from(len));
        let value = tail
            .get(1..)
            .map_or(&[][..], |tail| &tail[..len.min(tail.len())]);
        rest = tail.get(1 + value.len()..).unwrap_or(&[]);
        match control >> 6 {
            0b11 => {
                check_block(&mut decoder, &block, &want);
                block.clear();
                want.clear();
                encoder.set_max_table_size(value.len() * 40);
                encoder.begin(&mut block);
                continue;
            }
            0b10 => {
                // A literal name: the value's first half.
                let (name, value) = value.split_at(value.len() / 2);
                encoder.field(name, value, control & 0x20 != 0, &mut block);
                want.push((name.to_vec(), value.to_vec()));
                continue;
            }
            _ => {}
        }
        let name = NAMES[usize::from(control & 0x07)];
        encoder.field(name, value, control & 0x20 != 0, &mut block);
        want.push((name.to_vec(), value.to_vec()));
    }
    check_block(&mut decoder, &block, &want);
}

fn check_block(decoder: &mut Decoder, block: &[u8], want: &[(Vec<u8>, Vec<u8>)]) {
    let mut got = Vec::new();
    let decoded = decoder
        .decode(block, usize::MAX, |name, value| {
            got.push((name.to_vec(), value.to_vec()));
        })
        .expect("our own block decodes");
    assert!(!decoded.over_limit);
    assert_eq!(got, want);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed corpus, replayed here too so that a change to the
    /// frame layer meets it without building the whole gateway (the
    /// gateway's `fuzz_corpus` test replays it as well).
    #[test]
    fn the_committed_h2_frames_corpus_passes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/h2_frames");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the h2_frames corpus") {
            let data = std::fs::read(entry.expect("an entry").path()).expect("an input");
            super::frames(&data);
            count += 1;
        }
        assert!(count > 0);
    }

    #[test]
    fn the_committed_h2_connection_corpus_passes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/h2_connection");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the h2_connection corpus") {
            let data = std::fs::read(entry.expect("an entry").path()).expect("an input");
            super::connection(&data);
            count += 1;
        }
        assert!(count > 0);
    }

    /// The seeds are valid conversations: under every configuration,
    /// split and driven every way, the client's model of the server
    /// agrees with the server (a model that cried wolf would make the
    /// fuzzer useless).
    #[test]
    fn the_seeds_pass_under_every_setup() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/h2_connection");
        for entry in std::fs::read_dir(dir).expect("the h2_connection corpus") {
            let path = entry.expect("an entry").path();
            if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                continue;
            }
            let mut data = std::fs::read(&path).expect("an input");
            // Every combination of the first byte's six low bits.
            for a in 0..64u8 {
                for b in [0, 0x1f] {
                    for c in [0, 5, 0x80] {
                        for seed in 0..2 {
                            data[..5].copy_from_slice(&[a | seed << 7, b, c, seed, 0]);
                            let outcome = std::panic::catch_unwind(|| super::connection(&data));
                            assert!(outcome.is_ok(), "{} with {:?}", path.display(), &data[..5]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_conversation_reads_whole_and_in_pieces() {
        let mut input = vec![0x00];
        input.extend_from_slice(crate::frame::PREFACE);
        input.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
        input.extend_from_slice(&[0, 0, 1, 0x1, 0x5, 0, 0, 0, 1, 0x82]);
        input.extend_from_slice(&[0, 0, 2, 0x0, 0x1, 0, 0, 0, 1, b'h', b'i']);
        super::frames(&input);
    }
}
