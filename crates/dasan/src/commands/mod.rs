pub mod simulate;
pub mod staff;
