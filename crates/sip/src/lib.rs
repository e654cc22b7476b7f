//! SIP messages (RFC 3261) for Dasan's voice front door.
//!
//! [`parse`] reads one message from a datagram or stream buffer: the start
//! line, the header fields (folded lines, compact names, any amount of
//! linear whitespace where the grammar allows it) and a body of exactly
//! `Content-Length` bytes. It works on bytes, never panics, and refuses what
//! RFC 3261 does not allow (RFC 4475's invalid messages: bad request lines,
//! out-of-range numbers, unbalanced quotes, malformed name-addrs and Vias, a
//! body shorter than announced, a CSeq naming another method). A parsed
//! request then goes through [`Message::check_request`], the checks an element
//! makes before handling it (missing or repeated headers, unsupported URI
//! scheme or extension, exhausted Max-Forwards), each naming the response
//! code to send.
//!
//! Pure: no IO.

mod grammar;
mod message;

pub use grammar::{NameAddr, Via, parse_name_addr, parse_via};
pub use message::{Header, MAX_MESSAGE_BYTES, Message, ParseError, StartLine, parse};
