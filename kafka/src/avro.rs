//! The Avro wire format of a reading, for producers. Consumers decode with `arrow-avro`
//! ([`crate::decode`]); the round-trip tests tie the two together.
//!
//! A Kafka value is one `PvReading` datum with a frame that names its schema, as `arrow-avro`'s
//! streaming decoder requires: Avro's single-object encoding (`C3 01` + the schema's 64-bit
//! Rabin fingerprint, the default) or Confluent's registry framing (`00` + 32-bit schema id).

use crate::schema::PV_READING_AVSC;
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AvroFraming {
    /// Avro single-object encoding: self-describing, no registry needed.
    SingleObject,
    /// Confluent Schema Registry framing with this schema id.
    Confluent { schema_id: u32 },
}

/// One reading, as producers hand it over.
#[derive(Debug, Clone, PartialEq)]
pub struct PvReading {
    pub device_id: String,
    /// Epoch milliseconds, UTC.
    pub ts: i64,
    pub voltage: f32,
    pub current: f32,
    pub temperature: f32,
    pub irradiance: f32,
}

fn rabin_fingerprint() -> u64 {
    static FINGERPRINT: LazyLock<u64> = LazyLock::new(|| {
        match AvroSchema::new(PV_READING_AVSC.to_string()).fingerprint(FingerprintAlgorithm::Rabin)
        {
            Ok(Fingerprint::Rabin(f)) => f,
            other => {
                panic!("the bundled PvReading schema must have a Rabin fingerprint: {other:?}")
            }
        }
    });
    *FINGERPRINT
}

/// Appends one framed `PvReading` to `out`.
pub fn encode_into(reading: &PvReading, framing: AvroFraming, out: &mut Vec<u8>) {
    match framing {
        AvroFraming::SingleObject => {
            out.extend_from_slice(&[0xC3, 0x01]);
            out.extend_from_slice(&rabin_fingerprint().to_le_bytes());
        }
        AvroFraming::Confluent { schema_id } => {
            out.push(0x00);
            out.extend_from_slice(&schema_id.to_be_bytes());
        }
    }
    write_long(reading.device_id.len() as i64, out);
    out.extend_from_slice(reading.device_id.as_bytes());
    write_long(reading.ts, out);
    for v in [
        reading.voltage,
        reading.current,
        reading.temperature,
        reading.irradiance,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn encode(reading: &PvReading, framing: AvroFraming) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    encode_into(reading, framing, &mut out);
    out
}

/// Avro `long`: zig-zag, then base-128 varint.
fn write_long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_zigzag_varints() {
        let enc = |v| {
            let mut out = Vec::new();
            write_long(v, &mut out);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(enc(-65), [0x81, 0x01]);
    }

    #[test]
    fn single_object_frame_carries_the_schema_fingerprint() {
        let r = PvReading {
            device_id: "d".into(),
            ts: 0,
            voltage: 0.0,
            current: 0.0,
            temperature: 0.0,
            irradiance: 0.0,
        };
        let bytes = encode(&r, AvroFraming::SingleObject);
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        assert_eq!(&bytes[2..10], &rabin_fingerprint().to_le_bytes());
        // frame 10 + string 1+1 + long 1 + 4 floats
        assert_eq!(bytes.len(), 10 + 2 + 1 + 16);
    }
}
