//! The bundled Kafka sink (`builtin:kafka`, and `type = "kafka"` entries):
//! one record per row, its value JSON, Confluent-framed Avro or one text
//! column, its key and headers from columns. The host's `kafka` capability
//! encodes and produces; an epoch is prepared when the brokers have
//! acknowledged every record (at-least-once).

use weir_sink::kafka::{self, TopicOptions, ValueFormat};
use weir_sink::{Batch, Config, DataType, Schema, Sink, SinkPlan, WriteReport, export_sink};

struct KafkaSink {
    connection: String,
    topic: u32,
}

fn index(input: &Schema, key: &str, name: &str) -> Result<u32, String> {
    weir_sink::column_index(input, name).map_err(|e| format!("config key `{key}`: {e}"))
}

fn open(config: &Config, input: &Schema) -> Result<KafkaSink, String> {
    let connection = config.require("connection")?.to_string();
    let topic = config.require("topic")?.to_string();
    // The preset of builtin:kafka; nothing to choose.
    let _ = config.get("producer");
    let format = match config.get("format").unwrap_or("json") {
        "json" => ValueFormat::Json,
        "avro" => ValueFormat::Avro,
        "text" => ValueFormat::Raw,
        other => {
            return Err(format!(
                "config key `format`: {other:?} is not one of json, avro, text"
            ));
        }
    };
    let key = config.get("key").map(str::to_string);
    let headers = config.list("headers");
    let columns = config.list("columns");
    let value = config.get("value").unwrap_or("value").to_string();
    config.reject_unknown()?;

    let values = if format == ValueFormat::Raw {
        if !columns.is_empty() {
            return Err("config key `columns`: the text format writes one column, `value`".into());
        }
        let i = weir_sink::column_index(input, &value).map_err(|_| {
            format!("the text format writes a `{value}` column of text; the rows have none")
        })?;
        let data_type = &input.fields[input.columns[i as usize] as usize].data_type;
        if !matches!(data_type, DataType::Utf8 | DataType::Binary) {
            return Err(format!(
                "the text format writes a `{value}` column of text or bytes, not {data_type:?}"
            ));
        }
        Some(vec![i])
    } else if columns.is_empty() {
        None
    } else {
        Some(
            columns
                .iter()
                .map(|c| index(input, "columns", c))
                .collect::<Result<_, _>>()?,
        )
    };
    let options = TopicOptions {
        topic: topic.clone(),
        format,
        values,
        key: key.map(|k| index(input, "key", &k)).transpose()?,
        headers: headers
            .iter()
            .map(|h| index(input, "headers", h).map(|i| (h.clone(), i)))
            .collect::<Result<_, _>>()?,
    };
    let topic = kafka::open_topic(&connection, &options)
        .map_err(|e| format!("cannot produce to topic {topic}: {e}"))?;
    Ok(KafkaSink { connection, topic })
}

impl Sink for KafkaSink {
    fn open(config: &Config, input: &Schema) -> Result<(Self, SinkPlan), String> {
        // The host encodes every value; the sink reads none of them.
        let plan = SinkPlan {
            reads: Some(Vec::new()),
        };
        Ok((open(config, input)?, plan))
    }

    fn write(&mut self, rows: Batch) -> Result<WriteReport, String> {
        let rejections = if rows.num_rows == 0 {
            Vec::new()
        } else {
            kafka::produce(self.topic, None)?
        };
        Ok(WriteReport { rejections })
    }

    fn pre_commit(&mut self, _epoch: u64) -> Result<(), String> {
        // Prepared means acknowledged by the brokers.
        kafka::flush(&self.connection)
    }

    // Records already produced cannot be taken back without Kafka
    // transactions (not used: at-least-once), so `abort` keeps the default.

    fn close(&mut self) -> Result<(), String> {
        kafka::flush(&self.connection)
    }
}

export_sink!(KafkaSink);
