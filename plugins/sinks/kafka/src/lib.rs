//! The bundled Kafka sink (`builtin:kafka`, and `type = "kafka"` entries):
//! one record per row, its value JSON, Confluent-framed Avro or one text
//! column, its key and headers from columns. The host's `kafka` capability
//! encodes and produces. At-least-once (the default), an epoch is
//! prepared when the brokers have acknowledged every record. Exactly-once
//! (`delivery = "exactly-once"`, with checkpoints), each epoch is one Kafka
//! transaction holding the epoch's marker: an epoch replayed after a crash
//! is skipped if its transaction committed, and written again if not.

use weir_sink::kafka::{self, TopicOptions, ValueFormat};
use weir_sink::{Batch, Config, DataType, Schema, Sink, SinkPlan, WriteReport, export_sink};

struct KafkaSink {
    connection: String,
    topic: u32,
    /// Exactly-once: the epoch being written and the newest committed one.
    transactions: Option<Transactions>,
}

struct Transactions {
    epoch: u64,
    committed: Option<u64>,
    open: bool,
}

/// Makes the connection transactional, for a checkpointed pipeline.
fn transactions(config: &Config, connection: &str) -> Result<Option<Transactions>, String> {
    match config.get("delivery").unwrap_or("at-least-once") {
        "at-least-once" => return Ok(None),
        "exactly-once" => {}
        other => {
            return Err(format!(
                "config key `delivery`: {other:?} is neither \"at-least-once\" nor \"exactly-once\""
            ));
        }
    }
    let epoch = config.run("epoch").ok_or(
        "config key `delivery`: exactly-once needs checkpoints (a [checkpoint] table): \
         the epoch a restart resumes at is what tells a replayed epoch from a new one",
    )?;
    let epoch: u64 = epoch.parse().map_err(|_| format!("weir.epoch: {epoch:?}"))?;
    // Stable per pipeline and sink: a restart fences its predecessor.
    let id = format!("weir:{}", config.run("sink-id").unwrap_or("sink"));
    let committed = kafka::transactions(connection, &id)?;
    // A restart resumes at or before the epoch after the newest committed
    // one; further means the checkpoints were lost.
    if let Some(committed) = committed
        && committed > epoch
    {
        return Err(format!(
            "Kafka says `{id}` committed epoch {committed}, but the pipeline's checkpoints resume \
             at epoch {epoch}: they were deleted or belong to another run"
        ));
    }
    Ok(Some(Transactions {
        epoch,
        committed,
        open: false,
    }))
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
    let transactions = transactions(config, &connection)?;
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
    Ok(KafkaSink {
        connection,
        topic,
        transactions,
    })
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
        let mut rejections = Vec::new();
        if rows.num_rows == 0 {
            return Ok(WriteReport { rejections });
        }
        if let Some(t) = &mut self.transactions {
            // A replayed epoch whose transaction committed: Kafka has it.
            if t.committed.is_some_and(|c| t.epoch <= c) {
                return Ok(WriteReport { rejections });
            }
            if !t.open {
                kafka::begin(&self.connection)?;
                t.open = true;
            }
        }
        rejections = kafka::produce(self.topic, None)?;
        Ok(WriteReport { rejections })
    }

    fn pre_commit(&mut self, epoch: u64) -> Result<(), String> {
        match &self.transactions {
            // The marker joins the epoch's records in its transaction.
            Some(t) if t.open => kafka::prepare(&self.connection, epoch),
            Some(_) => Ok(()),
            // Prepared means acknowledged by the brokers.
            None => kafka::flush(&self.connection),
        }
    }

    fn commit(&mut self, epoch: u64) -> Result<(), String> {
        if let Some(t) = &mut self.transactions {
            if std::mem::take(&mut t.open) {
                kafka::commit(&self.connection)?;
                t.committed = t.committed.max(Some(epoch));
            }
            t.epoch = epoch + 1;
        }
        Ok(())
    }

    // At-least-once, records already produced cannot be taken back, so
    // `abort` drops only an open transaction.
    fn abort(&mut self, _epoch: u64) {
        if let Some(t) = &mut self.transactions
            && std::mem::take(&mut t.open)
        {
            kafka::abort(&self.connection);
        }
    }

    fn close(&mut self) -> Result<(), String> {
        match &self.transactions {
            Some(_) => Ok(()),
            None => kafka::flush(&self.connection),
        }
    }
}

export_sink!(KafkaSink);
