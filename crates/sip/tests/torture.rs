//! RFC 4475's 49 torture messages, read from `../shared/sip-torture/` (never
//! sent anywhere): the valid ones parse and pass the element's checks, the
//! invalid ones are refused (requests with 400 or 505), the application-layer
//! ones parse and get the response the RFC names where Dasan makes that
//! decision. Without the folder the test says it was skipped.

use dasan_sip::{StartLine, parse};

fn folder() -> Option<std::path::PathBuf> {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = std::path::Path::new(&root).join("../../../shared/sip-torture");
    dir.is_dir().then_some(dir)
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{name}.dat"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const VALID: [&str; 13] = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
];
const INVALID: [&str; 19] = [
    "badinv01",
    "clerr",
    "scalar02",
    "scalarlg",
    "quotbal",
    "ltgtruri",
    "lwsruri",
    "lwsstart",
    "trws",
    "escruri",
    "baddate",
    "regbadct",
    "badaspec",
    "baddn",
    "badvers",
    "mismatch01",
    "mismatch02",
    "bigcode",
    "ncl",
];
/// Well-formed; the element answers as the RFC says (None: handled normally).
const APPLICATION: [(&str, Option<u16>); 17] = [
    ("badbranch", None),
    ("insuf", Some(400)),
    ("unkscm", Some(416)),
    ("novelsc", Some(416)),
    ("unksm2", None),
    ("bext01", Some(420)),
    ("invut", None),
    ("regaut01", None),
    ("multi01", Some(400)),
    ("mcl01", Some(400)),
    ("bcast", None),
    ("zeromf", Some(483)),
    ("cparam01", None),
    ("cparam02", None),
    ("regescrt", None),
    ("sdp01", None),
    ("inv2543", None),
];

#[test]
fn the_49_torture_messages() {
    let Some(dir) = folder() else {
        eprintln!("SKIPPED: ../shared/sip-torture is not on this machine");
        return;
    };
    let mut seen = 0;
    for name in VALID {
        let (message, _) = parse(&read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        message
            .check_request(&[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seen += 1;
    }
    for name in INVALID {
        match parse(&read(&dir, name)) {
            Ok((message, _)) => panic!("{name} was accepted: {:?}", message.start),
            Err(error) => {
                let expected = if name == "badvers" { 505 } else { 400 };
                assert_eq!(error.code, expected, "{name}: {error}");
            }
        }
        seen += 1;
    }
    for (name, answer) in APPLICATION {
        let (message, _) = parse(&read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let checked = message.check_request(&[]);
        assert_eq!(
            checked.as_ref().err().map(|e| e.code),
            answer,
            "{name}: {checked:?}"
        );
        seen += 1;
    }
    let on_disk = std::fs::read_dir(&dir)
        .expect("folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "dat"))
        })
        .count();
    assert_eq!((seen, on_disk), (49, 49), "every message is classified");
    // dblreq holds a second request after the first: a stream reads both.
    let bytes = read(&dir, "dblreq");
    let (first, used) = parse(&bytes).expect("first");
    assert_eq!(first.method(), Some("REGISTER"));
    let (second, _) = parse(&bytes[used..]).expect("second");
    assert_eq!(second.method(), Some("INVITE"));
    // The response without a reason phrase.
    let (noreason, _) = parse(&read(&dir, "noreason")).expect("noreason");
    assert!(matches!(
        noreason.start,
        StartLine::Response { code: 100, .. }
    ));
}
