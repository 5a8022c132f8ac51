//! The cache of a lookup table: the rows recently looked up by key, and the
//! keys found missing, each trusted for a while (`cache_ttl`) and the least
//! recently used forgotten past `cache_rows`, as Flink's partial lookup
//! cache does. Rows are kept in Arrow's row format, one allocation per key.

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, Row, RowConverter};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

struct Entry {
    /// The table's row for the key, or `None`: the table has no such key.
    row: Option<OwnedRow>,
    fetched: Instant,
}

pub struct LookupCache {
    entries: LruCache<Box<[u8]>, Entry>,
    ttl: Duration,
    /// Encodes the table's rows (every column) for keeping.
    rows: RowConverter,
}

impl LookupCache {
    pub fn new(schema: &SchemaRef, capacity: usize, ttl: Duration) -> Result<Self, String> {
        let rows = super::table::row_converter(schema)?;
        Ok(LookupCache {
            entries: LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("at least one")),
            ttl,
            rows,
        })
    }

    /// Whether `key` (its bytes in the key row format) was fetched less
    /// than the TTL ago, found or found missing.
    pub fn knows(&mut self, key: &[u8]) -> bool {
        let ttl = self.ttl;
        self.entries
            .get(key)
            .is_some_and(|e| e.fetched.elapsed() < ttl)
    }

    /// The table's row for a key [`LookupCache::knows`]; `None` if the
    /// table has no such key.
    pub fn peek(&self, key: &[u8]) -> Option<Row<'_>> {
        self.entries
            .peek(key)
            .and_then(|e| e.row.as_ref())
            .map(|r| r.row())
    }

    /// Encodes table rows (every column) for [`LookupCache::put`].
    pub fn encode(&self, columns: &[ArrayRef]) -> Result<arrow::row::Rows, String> {
        self.rows
            .convert_columns(columns)
            .map_err(|e| e.to_string())
    }

    pub fn put(&mut self, key: Box<[u8]>, row: Option<OwnedRow>) {
        self.entries.put(
            key,
            Entry {
                row,
                fetched: Instant::now(),
            },
        );
    }

    /// Rows back as the table's columns.
    pub fn decode<'a>(
        &self,
        rows: impl IntoIterator<Item = Row<'a>>,
    ) -> Result<Vec<ArrayRef>, String> {
        self.rows.convert_rows(rows).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn cache(capacity: usize, ttl: Duration) -> LookupCache {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "segment",
            DataType::Utf8,
            true,
        )]));
        LookupCache::new(&schema, capacity, ttl).unwrap()
    }

    fn row(cache: &LookupCache, text: &str) -> OwnedRow {
        let column: ArrayRef = Arc::new(StringArray::from(vec![text]));
        cache.encode(&[column]).unwrap().row(0).owned()
    }

    #[test]
    fn the_least_recently_used_key_goes_first_and_a_missing_key_is_remembered() {
        let mut c = cache(2, Duration::from_secs(60));
        let gold = row(&c, "gold");
        c.put(b"a".as_slice().into(), Some(gold));
        c.put(b"b".as_slice().into(), None);
        assert!(c.knows(b"a"), "a is used: b is now the oldest");
        c.put(b"c".as_slice().into(), None);
        assert!(c.knows(b"a") && c.knows(b"c") && !c.knows(b"b"));
        assert!(c.peek(b"c").is_none(), "known missing");
        let found = c.decode(c.peek(b"a")).unwrap();
        let found = found[0].as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(found.value(0), "gold");
    }

    #[test]
    fn an_answer_older_than_the_ttl_is_asked_again() {
        let mut c = cache(10, Duration::from_millis(20));
        c.put(b"a".as_slice().into(), None);
        assert!(c.knows(b"a"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!c.knows(b"a"));
    }
}
