//! The parser against arbitrary and mutated input: it answers a message or
//! an error, never panics, and never claims more bytes than it was given.

use proptest::prelude::*;

const SEED: &[u8] = b"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\nFrom: \"A \\\"B\\\"\" <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: x1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5061>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\no=- 1\r\n";

fn check(bytes: &[u8]) {
    if let Ok((message, used)) = dasan_sip::parse(bytes) {
        assert!(used <= bytes.len());
        let _ = message.check_request(&["timer"]);
        let _ = message.response(200, "OK", Some("t"), &[], b"");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes);
    }

    #[test]
    fn mutated_messages(edits in proptest::collection::vec((0..SEED.len(), any::<u8>(), 0u8..3), 1..12)) {
        let mut bytes = SEED.to_vec();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => { bytes.remove(at); }
            }
        }
        check(&bytes);
    }
}

#[test]
fn the_seed_parses() {
    let (message, used) = dasan_sip::parse(SEED).expect("seed");
    // Content-Length 10: the datagram's last CRLF is not the body's.
    assert_eq!(used, SEED.len() - 2);
    assert_eq!(message.body, b"v=0\r\no=- 1");
}
