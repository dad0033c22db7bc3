//! Messages to Arrow: every message either becomes one reading or is quarantined with its
//! reason, so `messages = readings + quarantined` always holds.

use crate::avro::AvroFraming;
use crate::schema::{DATA_COLUMNS, quarantine_schema, reading_schema, readings_schema};
use arrow_avro::reader::ReaderBuilder;
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanArray, Float32Builder, Int32Array, Int64Array, RecordBatch,
    StringArray, StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::Float32Type;
use datafusion::arrow::error::ArrowError;
use serde::Deserialize;
use std::sync::Arc;

/// Messages a scan decodes together; also the largest batch it emits.
pub const CHUNK_MESSAGES: usize = 8192;

/// The largest message decoded as a reading (a reading takes well under 1 KiB in Avro or
/// JSON); a larger one is quarantined whole, with its size as the reason, without being parsed.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Messages polled from one partition, owned in two arenas so a chunk costs a few allocations,
/// not one per message.
#[derive(Debug, Default)]
pub struct MessageChunk {
    pub partition: i32,
    offsets: Vec<i64>,
    timestamps: Vec<Option<i64>>,
    keys: Arena,
    payloads: Arena,
}

#[derive(Debug, Default)]
struct Arena {
    data: Vec<u8>,
    ranges: Vec<Option<(usize, usize)>>,
}

impl Arena {
    fn push(&mut self, bytes: Option<&[u8]>) {
        self.ranges.push(bytes.map(|b| {
            let start = self.data.len();
            self.data.extend_from_slice(b);
            (start, self.data.len())
        }));
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        self.ranges[i].map(|(a, b)| &self.data[a..b])
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ranges.clear();
    }
}

impl MessageChunk {
    pub fn new(partition: i32) -> Self {
        MessageChunk {
            partition,
            ..Default::default()
        }
    }

    pub fn push(
        &mut self,
        offset: i64,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) {
        self.offsets.push(offset);
        self.timestamps.push(timestamp);
        self.keys.push(key);
        self.payloads.push(payload);
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    pub fn clear(&mut self) {
        self.offsets.clear();
        self.timestamps.clear();
        self.keys.clear();
        self.payloads.clear();
    }

    pub fn payload(&self, i: usize) -> Option<&[u8]> {
        self.payloads.get(i)
    }

    /// Partition, offset and Kafka timestamp columns for the messages `rows`.
    fn metadata(&self, rows: &[usize]) -> [ArrayRef; 3] {
        [
            Arc::new(Int32Array::from_value(self.partition, rows.len())),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|&i| self.offsets[i]),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter(rows.iter().map(|&i| self.timestamps[i]))
                    .with_timezone("UTC"),
            ),
        ]
    }
}

/// The message value format of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueFormat {
    Avro(AvroFraming),
    Json,
}

/// A chunk decoded: the readings (in [`readings_schema`]) and the quarantined messages (in
/// [`quarantine_schema`]).
#[derive(Debug)]
pub struct Decoded {
    pub readings: RecordBatch,
    pub quarantined: RecordBatch,
}

/// Decodes chunks of one topic's messages.
pub struct ChunkDecoder {
    format: ValueFormat,
    avro_store: SchemaStore,
}

impl ChunkDecoder {
    pub fn new(format: ValueFormat) -> Result<Self, ArrowError> {
        let mut avro_store = match format {
            ValueFormat::Avro(AvroFraming::Confluent { .. }) => {
                SchemaStore::new_with_type(FingerprintAlgorithm::Id)
            }
            _ => SchemaStore::new(),
        };
        let schema = AvroSchema::new(crate::schema::PV_READING_AVSC.to_string());
        match format {
            ValueFormat::Avro(AvroFraming::Confluent { schema_id }) => {
                avro_store.set(Fingerprint::Id(schema_id), schema)?;
            }
            _ => {
                avro_store.register(schema)?;
            }
        }
        Ok(ChunkDecoder { format, avro_store })
    }

    pub fn decode(&self, chunk: &MessageChunk) -> Result<Decoded, ArrowError> {
        let mut quarantine = Vec::new();
        let mut all = Vec::with_capacity(chunk.len());
        for i in 0..chunk.len() {
            match chunk.payload(i).map(<[u8]>::len) {
                Some(size) if size > MAX_MESSAGE_BYTES => quarantine.push((
                    i,
                    format!(
                        "message of {size} bytes, over the {} KiB a reading may take",
                        MAX_MESSAGE_BYTES / 1024
                    ),
                )),
                _ => all.push(i),
            }
        }
        let (rows, data) = match self.format {
            ValueFormat::Avro(_) => {
                let mut parts = Vec::new();
                self.decode_avro(chunk, &all, &mut parts, &mut quarantine)?;
                let mut rows = Vec::with_capacity(chunk.len());
                let mut batches = Vec::with_capacity(parts.len());
                for (idx, batch) in parts {
                    rows.extend(idx);
                    batches.push(batch);
                }
                let data = match batches.first() {
                    Some(first) => concat_batches(&first.schema(), &batches)?,
                    None => empty_data()?,
                };
                (rows, data)
            }
            ValueFormat::Json => decode_json(chunk, &all, &mut quarantine)?,
        };
        let (rows, data) = reject_non_finite(rows, data, &mut quarantine)?;

        let mut columns = data.columns().to_vec();
        columns.extend(chunk.metadata(&rows));
        let readings = RecordBatch::try_new(readings_schema(), columns)?;
        quarantine.sort_unstable_by_key(|(i, _)| *i);
        Ok(Decoded {
            readings,
            quarantined: quarantine_batch(chunk, &quarantine)?,
        })
    }

    /// Decodes `rows` as one batch; when anything in it fails, decodes each half separately, so
    /// a bad message costs `O(log n)` extra decodes and ends up alone, with its error as reason.
    fn decode_avro(
        &self,
        chunk: &MessageChunk,
        rows: &[usize],
        out: &mut Vec<(Vec<usize>, RecordBatch)>,
        quarantine: &mut Vec<(usize, String)>,
    ) -> Result<(), ArrowError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self.try_decode_avro(chunk, rows)? {
            Ok(batch) => out.push((rows.to_vec(), batch)),
            Err(reason) if rows.len() == 1 => quarantine.push((rows[0], reason)),
            Err(_) => {
                let (left, right) = rows.split_at(rows.len() / 2);
                self.decode_avro(chunk, left, out, quarantine)?;
                self.decode_avro(chunk, right, out, quarantine)?;
            }
        }
        Ok(())
    }

    /// `Ok(Err(reason))` when a message in `rows` is not a valid reading.
    fn try_decode_avro(
        &self,
        chunk: &MessageChunk,
        rows: &[usize],
    ) -> Result<Result<RecordBatch, String>, ArrowError> {
        let mut decoder = ReaderBuilder::new()
            .with_writer_schema_store(self.avro_store.clone())
            .with_tz(arrow_avro::codec::Tz::Utc)
            .with_batch_size(rows.len())
            .build_decoder()?;
        for &i in rows {
            let Some(payload) = chunk.payload(i) else {
                return Ok(Err("empty message (no value)".into()));
            };
            let before = decoder.capacity();
            match decoder.decode(payload) {
                Ok(n) if n == payload.len() && decoder.capacity() + 1 == before => {}
                Ok(n) if n < payload.len() || decoder.capacity() == before => {
                    return Ok(Err(format!(
                        "not one Avro PvReading: {} of {} bytes form a record",
                        n,
                        payload.len()
                    )));
                }
                Ok(_) => return Ok(Err("not one Avro PvReading".into())),
                Err(e) => return Ok(Err(format!("undecodable Avro: {e}"))),
            }
        }
        match decoder.flush() {
            Ok(Some(batch)) if batch.num_rows() == rows.len() => Ok(Ok(batch)),
            Ok(_) => Ok(Err("incomplete Avro record".into())),
            Err(e) => Ok(Err(format!("undecodable Avro: {e}"))),
        }
    }
}

fn empty_data() -> Result<RecordBatch, ArrowError> {
    Ok(RecordBatch::new_empty(reading_schema()))
}

/// A JSON reading: the Avro record's fields, `ts` in epoch milliseconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonReading {
    device_id: String,
    ts: i64,
    voltage: f32,
    current: f32,
    temperature: f32,
    irradiance: f32,
}

/// Decodes messages `rows` of `chunk` as JSON readings.
fn decode_json(
    chunk: &MessageChunk,
    rows_in: &[usize],
    quarantine: &mut Vec<(usize, String)>,
) -> Result<(Vec<usize>, RecordBatch), ArrowError> {
    let n = rows_in.len();
    let mut device = StringBuilder::with_capacity(n, n * 8);
    let mut ts = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut floats: [Float32Builder; 4] = std::array::from_fn(|_| Float32Builder::with_capacity(n));
    let mut rows = Vec::with_capacity(n);
    for &i in rows_in {
        let parsed = match chunk.payload(i) {
            None => Err("empty message (no value)".to_string()),
            Some(p) => serde_json::from_slice::<JsonReading>(p)
                .map_err(|e| format!("invalid JSON reading: {e}")),
        };
        match parsed {
            Ok(r) => {
                device.append_value(&r.device_id);
                ts.append_value(r.ts);
                for (b, v) in
                    floats
                        .iter_mut()
                        .zip([r.voltage, r.current, r.temperature, r.irradiance])
                {
                    b.append_value(v);
                }
                rows.push(i);
            }
            Err(reason) => quarantine.push((i, reason)),
        }
    }
    let schema = empty_data()?.schema();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(device.finish()), Arc::new(ts.finish())];
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok((rows, RecordBatch::try_new(schema, columns)?))
}

/// Readings whose measurements are NaN or infinite are not readings: they move to quarantine.
fn reject_non_finite(
    rows: Vec<usize>,
    data: RecordBatch,
    quarantine: &mut Vec<(usize, String)>,
) -> Result<(Vec<usize>, RecordBatch), ArrowError> {
    let names = ["voltage", "current", "temperature", "irradiance"];
    let values: Vec<&[f32]> = (2..DATA_COLUMNS)
        .map(|c| {
            data.column(c)
                .as_primitive::<Float32Type>()
                .values()
                .as_ref()
        })
        .collect();
    let mut keep = Vec::with_capacity(rows.len());
    let mut kept_rows = Vec::with_capacity(rows.len());
    for (r, &msg) in rows.iter().enumerate() {
        match values.iter().zip(names).find(|(v, _)| !v[r].is_finite()) {
            Some((v, name)) => {
                quarantine.push((msg, format!("{name} is {}", v[r])));
                keep.push(false);
            }
            None => {
                keep.push(true);
                kept_rows.push(msg);
            }
        }
    }
    if kept_rows.len() == rows.len() {
        return Ok((rows, data));
    }
    Ok((
        kept_rows,
        filter_record_batch(&data, &BooleanArray::from(keep))?,
    ))
}

fn quarantine_batch(
    chunk: &MessageChunk,
    items: &[(usize, String)],
) -> Result<RecordBatch, ArrowError> {
    let rows: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
    let mut columns = chunk.metadata(&rows).to_vec();
    let mut keys = BinaryBuilder::new();
    let mut payloads = BinaryBuilder::new();
    for &i in &rows {
        keys.append_option(chunk.keys.get(i));
        payloads.append_option(chunk.payloads.get(i));
    }
    columns.push(Arc::new(keys.finish()));
    columns.push(Arc::new(payloads.finish()));
    columns.push(Arc::new(StringArray::from_iter_values(
        items.iter().map(|(_, r)| r.as_str()),
    )));
    RecordBatch::try_new(quarantine_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::{PvReading, encode};

    fn reading(i: i64) -> PvReading {
        PvReading {
            device_id: format!("pv-{i:03}"),
            ts: 1_767_225_600_000 + i * 20_000,
            voltage: 400.0 + i as f32,
            current: 8.0,
            temperature: 35.0,
            irradiance: 800.0,
        }
    }

    fn chunk(payloads: &[Vec<u8>]) -> MessageChunk {
        let mut c = MessageChunk::new(3);
        for (i, p) in payloads.iter().enumerate() {
            c.push(
                100 + i as i64,
                Some(1_767_225_600_000 + i as i64 * 20_000),
                Some(b"k"),
                Some(p),
            );
        }
        c
    }

    /// A message over the limit is quarantined whole, unparsed, with its size as the reason,
    /// however valid it is otherwise; its neighbours are read.
    #[test]
    fn oversized_messages_are_quarantined_whole() {
        let mut huge = reading(1);
        huge.device_id = "pv-".repeat(MAX_MESSAGE_BYTES / 3 + 1);
        let framing = AvroFraming::SingleObject;
        let json = |r: &PvReading| {
            serde_json::to_vec(&serde_json::json!({
                "device_id": r.device_id, "ts": r.ts, "voltage": r.voltage,
                "current": r.current, "temperature": r.temperature, "irradiance": r.irradiance,
            }))
            .expect("json")
        };
        for (format, payloads) in [
            (
                ValueFormat::Avro(framing),
                vec![
                    encode(&reading(0), framing),
                    encode(&huge, framing),
                    encode(&reading(2), framing),
                ],
            ),
            (
                ValueFormat::Json,
                vec![json(&reading(0)), json(&huge), json(&reading(2))],
            ),
        ] {
            let decoded = ChunkDecoder::new(format)
                .expect("decoder")
                .decode(&chunk(&payloads))
                .expect("decoded");
            assert_eq!(decoded.readings.num_rows(), 2);
            let q = &decoded.quarantined;
            assert_eq!(q.num_rows(), 1);
            assert_eq!(
                q.column(4).as_binary::<i32>().value(0),
                payloads[1].as_slice()
            );
            let reason = q.column(5).as_string::<i32>().value(0);
            assert!(reason.contains("over the 16 KiB"), "{reason}");
        }
    }

    #[test]
    fn avro_round_trip_and_bad_messages_are_quarantined_with_reasons() {
        let framing = AvroFraming::SingleObject;
        let mut payloads: Vec<Vec<u8>> = (0..50).map(|i| encode(&reading(i), framing)).collect();
        payloads[7] = b"garbage".to_vec();
        let len = payloads[20].len();
        payloads[20].truncate(len - 3);
        payloads[33].push(0x01); // trailing byte
        let mut nan = reading(40);
        nan.current = f32::NAN;
        payloads[40] = encode(&nan, framing);
        let decoded = ChunkDecoder::new(ValueFormat::Avro(framing))
            .unwrap()
            .decode(&chunk(&payloads))
            .unwrap();
        assert_eq!(
            decoded.readings.num_rows() + decoded.quarantined.num_rows(),
            50
        );
        let q = &decoded.quarantined;
        let offsets = q
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        assert_eq!(offsets, vec![107, 120, 133, 140]);
        let reasons = q.column(5).as_string::<i32>();
        assert!(
            reasons.value(3).contains("current is NaN"),
            "{}",
            reasons.value(3)
        );
        assert_eq!(q.column(4).as_binary::<i32>().value(0), b"garbage");
        // Good rows keep their order and their offsets.
        let r = &decoded.readings;
        let devices = r.column(0).as_string::<i32>();
        assert_eq!(devices.value(0), "pv-000");
        assert_eq!(devices.value(7), "pv-008");
        let offs = r
            .column(7)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(offs.value(7), 108);
        assert_eq!(r.schema(), readings_schema());
    }

    #[test]
    fn a_foreign_schema_fingerprint_is_quarantined() {
        let mut p = encode(&reading(1), AvroFraming::SingleObject);
        p[2] ^= 0xff; // corrupt the fingerprint
        let decoded = ChunkDecoder::new(ValueFormat::Avro(AvroFraming::SingleObject))
            .unwrap()
            .decode(&chunk(&[p]))
            .unwrap();
        assert_eq!(decoded.quarantined.num_rows(), 1);
        assert!(
            decoded
                .quarantined
                .column(5)
                .as_string::<i32>()
                .value(0)
                .contains("Avro")
        );
    }

    #[test]
    fn confluent_framing_decodes() {
        let framing = AvroFraming::Confluent { schema_id: 42 };
        let payloads: Vec<Vec<u8>> = (0..5).map(|i| encode(&reading(i), framing)).collect();
        let decoded = ChunkDecoder::new(ValueFormat::Avro(framing))
            .unwrap()
            .decode(&chunk(&payloads))
            .unwrap();
        assert_eq!(decoded.readings.num_rows(), 5);
    }

    #[test]
    fn json_readings_and_their_failures() {
        let payloads = vec![
            br#"{"device_id":"a","ts":1767225600000,"voltage":1,"current":2,"temperature":3,"irradiance":4}"#.to_vec(),
            br#"{"device_id":"a","ts":1767225600000,"voltage":1,"current":2,"temperature":3}"#.to_vec(),
            br#"{"device_id":"a","ts":"yesterday","voltage":1,"current":2,"temperature":3,"irradiance":4}"#.to_vec(),
            b"not json".to_vec(),
        ];
        let decoded = ChunkDecoder::new(ValueFormat::Json)
            .unwrap()
            .decode(&chunk(&payloads))
            .unwrap();
        assert_eq!(decoded.readings.num_rows(), 1);
        let reasons = decoded.quarantined.column(5).as_string::<i32>();
        assert!(
            reasons.value(0).contains("missing field `irradiance`"),
            "{}",
            reasons.value(0)
        );
        assert!(
            reasons.value(1).contains("invalid type"),
            "{}",
            reasons.value(1)
        );
    }

    /// Hostile input, generated: valid messages of every format cut, bit-flipped, extended,
    /// spliced or replaced by random bytes (a seeded generator, so a failure reproduces). Every
    /// chunk decodes without panicking, and every message in it is a finite reading or
    /// quarantined with a reason.
    #[test]
    fn mutated_messages_are_read_or_quarantined_never_a_panic() {
        use pvflow_testkit::SeededRandom;

        fn mutate(rng: &mut SeededRandom, valid: &[u8], other: &[u8]) -> Vec<u8> {
            let mut m = valid.to_vec();
            match rng.below(6) {
                0 => m.truncate(rng.below(m.len())),
                1 => {
                    for _ in 0..=rng.below(4) {
                        let i = rng.below(m.len());
                        m[i] ^= 1 << rng.below(8);
                    }
                }
                2 => m.extend((0..=rng.below(16)).map(|_| rng.byte())),
                3 => {
                    let cut = rng.below(m.len());
                    m.truncate(cut);
                    m.extend_from_slice(&other[rng.below(other.len())..]);
                }
                4 => m = (0..rng.below(64)).map(|_| rng.byte()).collect(),
                _ => {
                    let i = rng.below(m.len());
                    m[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
                }
            }
            m
        }

        let formats = [
            ValueFormat::Avro(AvroFraming::SingleObject),
            ValueFormat::Avro(AvroFraming::Confluent { schema_id: 7 }),
            ValueFormat::Json,
        ];
        let mut rng = SeededRandom::new(0x9E37_79B9_7F4A_7C15);
        let (mut read, mut quarantined) = (0, 0);
        for format in formats {
            let decoder = ChunkDecoder::new(format).expect("decoder");
            let valid = |i: i64| match format {
                ValueFormat::Avro(framing) => encode(&reading(i), framing),
                ValueFormat::Json => serde_json::to_vec(&serde_json::json!({
                    "device_id": format!("pv-{i}"), "ts": 1_767_225_600_000_i64 + i,
                    "voltage": 400.5, "current": 8.25, "temperature": 35.0, "irradiance": 800.0,
                }))
                .expect("json"),
            };
            for round in 0..200 {
                let payloads: Vec<Vec<u8>> = (0..32)
                    .map(|i| {
                        let (a, b) = (valid(round * 32 + i), valid(i));
                        // Some messages stay valid, so good and bad share chunks.
                        if rng.below(4) == 0 {
                            a
                        } else {
                            mutate(&mut rng, &a, &b)
                        }
                    })
                    .collect();
                let chunk = chunk(&payloads);
                let decoded = decoder
                    .decode(&chunk)
                    .unwrap_or_else(|e| panic!("{format:?} round {round}: {e}"));
                let (r, q) = (&decoded.readings, &decoded.quarantined);
                assert_eq!(
                    r.num_rows() + q.num_rows(),
                    payloads.len(),
                    "{format:?} round {round}"
                );
                for column in ["voltage", "current", "temperature", "irradiance"] {
                    let values = r
                        .column_by_name(column)
                        .expect(column)
                        .as_primitive::<datafusion::arrow::datatypes::Float32Type>();
                    assert!(
                        values.iter().flatten().all(f32::is_finite),
                        "{format:?} {column}"
                    );
                }
                let reasons = q.column(5).as_string::<i32>();
                assert!(reasons.iter().all(|r| r.is_some_and(|r| !r.is_empty())));
                read += r.num_rows();
                quarantined += q.num_rows();
            }
        }
        // Both sides were exercised.
        assert!(
            read > 1000 && quarantined > 1000,
            "{read} read, {quarantined} quarantined"
        );
    }
}
