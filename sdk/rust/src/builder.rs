//! Builders for computed columns: values are appended into one contiguous
//! buffer per column, so building a column allocates per column, not per row.

use crate::bindings::weir::plugin::types as wit;
use crate::column::Column;
use crate::{DataType, Error, Field};

/// Arrow validity bitmap under construction. Stays unallocated until the
/// first null, so a column without nulls sends no bitmap at all.
#[derive(Default, Clone)]
pub(crate) struct Validity {
    bits: Option<Vec<u8>>,
}

impl Validity {
    fn push(&mut self, len_before: usize, is_valid: bool) {
        if let Some(bits) = &mut self.bits {
            set_bit(bits, len_before, is_valid);
        } else if !is_valid {
            let mut bits = vec![0xffu8; len_before.div_ceil(8).max(1)];
            // Bits past `len_before` in the last byte must start cleared.
            for i in len_before..bits.len() * 8 {
                bits[i >> 3] &= !(1 << (i & 7));
            }
            set_bit(&mut bits, len_before, false);
            self.bits = Some(bits);
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        self.bits
    }
}

pub(crate) fn set_bit(bits: &mut Vec<u8>, i: usize, value: bool) {
    if bits.len() <= i >> 3 {
        bits.resize((i >> 3) + 1, 0);
    }
    if value {
        bits[i >> 3] |= 1 << (i & 7);
    } else {
        bits[i >> 3] &= !(1 << (i & 7));
    }
}

/// A column under construction.
pub trait Builder: Default {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn push_null(&mut self);
    /// Adds the finished array (and any children) to `arrays`, checked against
    /// the field the plan declared; returns its index.
    #[doc(hidden)]
    fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error>;
}

/// A value that can fill a computed column: it names its builder.
pub trait Value {
    type Builder: Builder + Push<Self> + 'static;
}

/// Appends one value of type `V`.
pub trait Push<V: ?Sized> {
    fn push(&mut self, value: V);
}

fn mismatch(field: &Field, built: &str) -> Error {
    Error::new(format!(
        "computed column `{}` was built as {built}, but the plan declares it {:?}",
        field.name, field.data_type
    ))
}

fn push_array(
    arrays: &mut Vec<wit::Array>,
    len: usize,
    validity: Option<Vec<u8>>,
    values: wit::Values,
) -> u32 {
    arrays.push(wit::Array {
        len: len as u32,
        validity,
        values,
    });
    (arrays.len() - 1) as u32
}

/// Builds a column of fixed-width values.
#[derive(Default, Clone)]
pub struct PrimitiveBuilder<T> {
    values: Vec<T>,
    validity: Validity,
}

impl<T: Copy + Default> PrimitiveBuilder<T> {
    pub fn with_capacity(capacity: usize) -> Self {
        PrimitiveBuilder {
            values: Vec::with_capacity(capacity),
            validity: Validity::default(),
        }
    }

    pub fn append(&mut self, value: T) {
        self.validity.push(self.values.len(), true);
        self.values.push(value);
    }
}

macro_rules! primitive {
    ($t:ty, $built:literal, $($dt:pat => $variant:ident),+) => {
        impl Builder for PrimitiveBuilder<$t> {
            fn len(&self) -> usize {
                self.values.len()
            }
            fn push_null(&mut self) {
                self.validity.push(self.values.len(), false);
                self.values.push(<$t>::default());
            }
            fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error> {
                let len = self.values.len();
                let values = match field.data_type {
                    $($dt => wit::Values::$variant(self.values),)+
                    _ => return Err(mismatch(field, $built)),
                };
                Ok(push_array(arrays, len, self.validity.finish(), values))
            }
        }
        impl Push<$t> for PrimitiveBuilder<$t> {
            #[inline]
            fn push(&mut self, value: $t) {
                self.append(value)
            }
        }
        impl Value for $t {
            type Builder = PrimitiveBuilder<$t>;
        }
    };
}

primitive!(i32, "int32", DataType::Int32 => Int32, DataType::Date32 => Date32);
primitive!(i64, "int64", DataType::Int64 => Int64, DataType::Timestamp { .. } => Timestamp);
primitive!(f32, "float32", DataType::Float32 => Float32);
primitive!(f64, "float64", DataType::Float64 => Float64);

impl Builder for PrimitiveBuilder<i128> {
    fn len(&self) -> usize {
        self.values.len()
    }
    fn push_null(&mut self) {
        self.validity.push(self.values.len(), false);
        self.values.push(0);
    }
    fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error> {
        if !matches!(field.data_type, DataType::Decimal128 { .. }) {
            return Err(mismatch(field, "decimal128"));
        }
        let len = self.values.len();
        let bytes = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(push_array(
            arrays,
            len,
            self.validity.finish(),
            wit::Values::Decimal128(bytes),
        ))
    }
}

impl Push<i128> for PrimitiveBuilder<i128> {
    fn push(&mut self, value: i128) {
        self.append(value)
    }
}

impl Value for i128 {
    type Builder = PrimitiveBuilder<i128>;
}

/// Builds a column of booleans.
#[derive(Default, Clone)]
pub struct BooleanBuilder {
    bits: Vec<u8>,
    len: usize,
    validity: Validity,
}

impl BooleanBuilder {
    pub fn append(&mut self, value: bool) {
        self.validity.push(self.len, true);
        set_bit(&mut self.bits, self.len, value);
        self.len += 1;
    }
}

impl Builder for BooleanBuilder {
    fn len(&self) -> usize {
        self.len
    }
    fn push_null(&mut self) {
        self.validity.push(self.len, false);
        set_bit(&mut self.bits, self.len, false);
        self.len += 1;
    }
    fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error> {
        if field.data_type != DataType::Boolean {
            return Err(mismatch(field, "boolean"));
        }
        Ok(push_array(
            arrays,
            self.len,
            self.validity.finish(),
            wit::Values::Boolean(self.bits),
        ))
    }
}

impl Push<bool> for BooleanBuilder {
    fn push(&mut self, value: bool) {
        self.append(value)
    }
}

impl Value for bool {
    type Builder = BooleanBuilder;
}

/// Builds a column of UTF-8 text in one buffer.
#[derive(Clone)]
pub struct Utf8Builder {
    offsets: Vec<i32>,
    text: String,
    validity: Validity,
}

impl Default for Utf8Builder {
    fn default() -> Self {
        Utf8Builder {
            offsets: vec![0],
            text: String::new(),
            validity: Validity::default(),
        }
    }
}

impl Utf8Builder {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Builder {
            offsets,
            text: String::with_capacity(bytes),
            validity: Validity::default(),
        }
    }

    pub fn append(&mut self, value: &str) {
        self.append_with(|text| text.push_str(value));
    }

    /// Appends `value` with its ASCII letters in upper case, in one pass
    /// straight into the column's buffer (other characters are kept as they
    /// are; for full Unicode case mapping use [`Utf8Builder::append_with`]).
    pub fn append_ascii_uppercase(&mut self, value: &str) {
        self.append_mapped(value, |b| b.to_ascii_uppercase());
    }

    /// Appends `value` with its ASCII letters in lower case (see
    /// [`Utf8Builder::append_ascii_uppercase`]).
    pub fn append_ascii_lowercase(&mut self, value: &str) {
        self.append_mapped(value, |b| b.to_ascii_lowercase());
    }

    /// Byte-wise rewriting in one pass. In Wasm this beats copy-then-modify
    /// by far: a copy is a call into the runtime, too costly for short values.
    fn append_mapped(&mut self, value: &str, map: fn(u8) -> u8) {
        self.validity.push(self.offsets.len() - 1, true);
        // SAFETY: `map` only changes ASCII letters into ASCII letters, and
        // every byte of a multi-byte UTF-8 sequence is >= 0x80, which the
        // ASCII case mappings leave alone: valid UTF-8 stays valid.
        unsafe { self.text.as_mut_vec() }.extend(value.bytes().map(map));
        self.offsets.push(self.text.len() as i32);
    }

    /// Appends one value written by `write` straight into the column's
    /// buffer — no `String` per row. `write` must only append.
    pub fn append_with(&mut self, write: impl FnOnce(&mut String)) {
        self.validity.push(self.offsets.len() - 1, true);
        write(&mut self.text);
        self.offsets.push(self.text.len() as i32);
    }
}

impl Builder for Utf8Builder {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn push_null(&mut self) {
        self.validity.push(self.offsets.len() - 1, false);
        self.offsets.push(self.text.len() as i32);
    }
    fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error> {
        if field.data_type != DataType::Utf8 {
            return Err(mismatch(field, "utf8"));
        }
        let len = self.offsets.len() - 1;
        let data = wit::VarBytes {
            offsets: self.offsets,
            bytes: self.text.into_bytes(),
        };
        Ok(push_array(
            arrays,
            len,
            self.validity.finish(),
            wit::Values::Utf8(data),
        ))
    }
}

impl Push<&str> for Utf8Builder {
    fn push(&mut self, value: &str) {
        self.append(value)
    }
}

impl Push<String> for Utf8Builder {
    fn push(&mut self, value: String) {
        self.append(&value)
    }
}

impl Value for &str {
    type Builder = Utf8Builder;
}

impl Value for String {
    type Builder = Utf8Builder;
}

/// Builds a column of byte strings in one buffer.
#[derive(Clone)]
pub struct BinaryBuilder {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
    validity: Validity,
}

impl Default for BinaryBuilder {
    fn default() -> Self {
        BinaryBuilder {
            offsets: vec![0],
            bytes: Vec::new(),
            validity: Validity::default(),
        }
    }
}

impl BinaryBuilder {
    pub fn append(&mut self, value: &[u8]) {
        self.validity.push(self.offsets.len() - 1, true);
        self.bytes.extend_from_slice(value);
        self.offsets.push(self.bytes.len() as i32);
    }
}

impl Builder for BinaryBuilder {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn push_null(&mut self) {
        self.validity.push(self.offsets.len() - 1, false);
        self.offsets.push(self.bytes.len() as i32);
    }
    fn finish(self, field: &Field, arrays: &mut Vec<wit::Array>) -> Result<u32, Error> {
        if field.data_type != DataType::Binary {
            return Err(mismatch(field, "binary"));
        }
        let len = self.offsets.len() - 1;
        let data = wit::VarBytes {
            offsets: self.offsets,
            bytes: self.bytes,
        };
        Ok(push_array(
            arrays,
            len,
            self.validity.finish(),
            wit::Values::Binary(data),
        ))
    }
}

impl Push<&[u8]> for BinaryBuilder {
    fn push(&mut self, value: &[u8]) {
        self.append(value)
    }
}

impl Push<Vec<u8>> for BinaryBuilder {
    fn push(&mut self, value: Vec<u8>) {
        self.append(&value)
    }
}

impl Value for &[u8] {
    type Builder = BinaryBuilder;
}

impl Value for Vec<u8> {
    type Builder = BinaryBuilder;
}

/// `None` becomes a null in any column.
impl<V: Value> Value for Option<V> {
    type Builder = V::Builder;
}

impl<V: Value, B: Builder + Push<V>> Push<Option<V>> for B {
    fn push(&mut self, value: Option<V>) {
        match value {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }
}

/// A copy of an input column, sent back as a computed column (for renames,
/// reordering, or tests). It must have one value per output row.
pub(crate) fn copy_column(column: Column<'_>, arrays: &mut Vec<wit::Array>) -> u32 {
    let array = column.array();
    let values = match &array.values {
        wit::Values::List(list) => {
            let item = copy_column(
                Column {
                    arrays: column.arrays,
                    index: list.item,
                },
                arrays,
            );
            wit::Values::List(wit::ListData {
                offsets: list.offsets.clone(),
                item,
            })
        }
        wit::Values::Struct(children) => wit::Values::Struct(
            children
                .iter()
                .map(|&c| {
                    copy_column(
                        Column {
                            arrays: column.arrays,
                            index: c,
                        },
                        arrays,
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    };
    push_array(arrays, array.len as usize, array.validity.clone(), values)
}
