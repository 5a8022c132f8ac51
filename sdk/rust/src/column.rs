//! Typed, zero-copy views of the columns of an input batch.

use crate::bindings::weir::plugin::types as wit;

/// Whether bit `i` of an Arrow bitmap (least significant bit first) is set.
#[inline]
pub(crate) fn bit(bits: &[u8], i: usize) -> bool {
    bits[i >> 3] & (1 << (i & 7)) != 0
}

#[inline]
fn valid(validity: Option<&[u8]>, i: usize) -> bool {
    validity.is_none_or(|v| bit(v, i))
}

/// One column of a batch, of any type.
#[derive(Clone, Copy)]
pub struct Column<'a> {
    pub(crate) arrays: &'a [wit::Array],
    pub(crate) index: u32,
}

impl<'a> Column<'a> {
    pub(crate) fn array(&self) -> &'a wit::Array {
        &self.arrays[self.index as usize]
    }

    pub fn len(&self) -> usize {
        self.array().len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_null(&self, row: usize) -> bool {
        !valid(self.array().validity.as_deref(), row)
    }

    /// The name of the column's physical type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.array().values {
            wit::Values::Boolean(_) => "boolean",
            wit::Values::Int32(_) => "int32",
            wit::Values::Int64(_) => "int64",
            wit::Values::Float32(_) => "float32",
            wit::Values::Float64(_) => "float64",
            wit::Values::Utf8(_) => "utf8",
            wit::Values::Binary(_) => "binary",
            wit::Values::Timestamp(_) => "timestamp",
            wit::Values::Date32(_) => "date32",
            wit::Values::Decimal128(_) => "decimal128",
            wit::Values::List(_) => "list",
            wit::Values::Struct(_) => "struct",
        }
    }

    pub(crate) fn validity(&self) -> Option<&'a [u8]> {
        self.array().validity.as_deref()
    }
}

/// A column of fixed-width values: integers, floats, timestamps, dates.
#[derive(Clone, Copy)]
pub struct Primitive<'a, T> {
    values: &'a [T],
    validity: Option<&'a [u8]>,
}

impl<'a, T: Copy> Primitive<'a, T> {
    pub(crate) fn new(values: &'a [T], validity: Option<&'a [u8]>) -> Self {
        Primitive { values, validity }
    }

    /// The value of `row`, or `None` if it is null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<T> {
        valid(self.validity, row).then(|| self.values[row])
    }

    /// Every slot, nulls included (a null slot holds an unspecified value).
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + '_ {
        (0..self.values.len()).map(|i| self.get(i))
    }
}

/// A column of booleans.
#[derive(Clone, Copy)]
pub struct Boolean<'a> {
    bits: &'a [u8],
    len: usize,
    validity: Option<&'a [u8]>,
}

impl<'a> Boolean<'a> {
    pub(crate) fn new(bits: &'a [u8], len: usize, validity: Option<&'a [u8]>) -> Self {
        Boolean {
            bits,
            len,
            validity,
        }
    }

    #[inline]
    pub fn get(&self, row: usize) -> Option<bool> {
        valid(self.validity, row).then(|| bit(self.bits, row))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<bool>> + '_ {
        (0..self.len).map(|i| self.get(i))
    }
}

/// A column of variable-length byte strings.
#[derive(Clone, Copy)]
pub struct Binary<'a> {
    offsets: &'a [i32],
    bytes: &'a [u8],
    validity: Option<&'a [u8]>,
}

impl<'a> Binary<'a> {
    pub(crate) fn new(data: &'a wit::VarBytes, validity: Option<&'a [u8]>) -> Self {
        Binary {
            offsets: &data.offsets,
            bytes: &data.bytes,
            validity,
        }
    }

    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a [u8]> {
        valid(self.validity, row)
            .then(|| &self.bytes[self.offsets[row] as usize..self.offsets[row + 1] as usize])
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&'a [u8]>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// A column of UTF-8 text.
#[derive(Clone, Copy)]
pub struct Utf8<'a>(Binary<'a>);

impl<'a> Utf8<'a> {
    pub(crate) fn new(data: &'a wit::VarBytes, validity: Option<&'a [u8]>) -> Self {
        Utf8(Binary::new(data, validity))
    }

    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        // The host builds utf8 columns from Arrow string arrays, which are
        // validated UTF-8; re-checking every value would double the cost of
        // reading text. A plugin trusts its host (the sandbox protects the host
        // from the plugin, not the other way round).
        self.0
            .get(row)
            .map(|b| unsafe { std::str::from_utf8_unchecked(b) })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// A column of 128-bit decimals, read as their unscaled integer.
#[derive(Clone, Copy)]
pub struct Decimal128<'a> {
    bytes: &'a [u8],
    validity: Option<&'a [u8]>,
}

impl<'a> Decimal128<'a> {
    pub(crate) fn new(bytes: &'a [u8], validity: Option<&'a [u8]>) -> Self {
        Decimal128 { bytes, validity }
    }

    pub fn get(&self, row: usize) -> Option<i128> {
        valid(self.validity, row).then(|| {
            let raw: [u8; 16] = self.bytes[row * 16..row * 16 + 16].try_into().unwrap();
            i128::from_le_bytes(raw)
        })
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / 16
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A column of lists: row `i` is a range of rows of the `items` column.
#[derive(Clone, Copy)]
pub struct List<'a> {
    offsets: &'a [i32],
    items: Column<'a>,
    validity: Option<&'a [u8]>,
}

impl<'a> List<'a> {
    pub(crate) fn new(data: &'a wit::ListData, column: Column<'a>) -> Self {
        let items = Column {
            arrays: column.arrays,
            index: data.item,
        };
        List {
            offsets: &data.offsets,
            items,
            validity: column.validity(),
        }
    }

    /// The rows of [`List::items`] that make up row `row`, or `None` if it is null.
    pub fn get(&self, row: usize) -> Option<std::ops::Range<usize>> {
        valid(self.validity, row)
            .then(|| self.offsets[row] as usize..self.offsets[row + 1] as usize)
    }

    pub fn items(&self) -> Column<'a> {
        self.items
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A column of structs: one child column per member, all of the same length.
#[derive(Clone, Copy)]
pub struct Struct<'a> {
    children: &'a [u32],
    column: Column<'a>,
}

impl<'a> Struct<'a> {
    pub(crate) fn new(children: &'a [u32], column: Column<'a>) -> Self {
        Struct { children, column }
    }

    /// The child column of member number `member`.
    pub fn member(&self, member: usize) -> Column<'a> {
        Column {
            arrays: self.column.arrays,
            index: self.children[member],
        }
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.column.is_null(row)
    }

    pub fn len(&self) -> usize {
        self.column.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
