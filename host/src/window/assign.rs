//! Which windows an event belongs to. Times are microseconds since the epoch,
//! UTC; windows are aligned to the epoch as Spark's are, and are half-open:
//! an event exactly on a boundary belongs to the window that starts there.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSpec {
    Tumbling {
        size: i64,
    },
    Sliding {
        size: i64,
        slide: i64,
    },
    /// A key's events closer than `gap` to each other share a session.
    Session {
        gap: i64,
    },
    /// One window for all time: running totals.
    Global,
}

impl WindowSpec {
    /// The starts of the fixed windows containing `t`, latest first.
    pub fn starts(&self, t: i64, out: &mut Vec<i64>) {
        out.clear();
        let (size, slide) = match *self {
            WindowSpec::Tumbling { size } => (size, size),
            WindowSpec::Sliding { size, slide } => (size, slide),
            _ => return,
        };
        // div_euclid: events before 1970 fall in the window below them.
        let mut start = t.div_euclid(slide) * slide;
        while start > t - size {
            out.push(start);
            start -= slide;
        }
    }

    /// The length of a fixed window.
    pub fn size(&self) -> Option<i64> {
        match *self {
            WindowSpec::Tumbling { size } | WindowSpec::Sliding { size, .. } => Some(size),
            _ => None,
        }
    }

    /// When the last window an event at `t` can belong to ends; the event is
    /// late once the watermark has reached it. `None`: never late.
    pub fn last_end(&self, t: i64) -> Option<i64> {
        match *self {
            WindowSpec::Tumbling { size } => Some(t.div_euclid(size) * size + size),
            WindowSpec::Sliding { size, slide } => Some(t.div_euclid(slide) * slide + size),
            WindowSpec::Session { gap } => Some(t.saturating_add(gap)),
            WindowSpec::Global => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spec: WindowSpec, t: i64) -> Vec<i64> {
        let mut out = Vec::new();
        spec.starts(t, &mut out);
        out
    }

    #[test]
    fn an_event_on_a_boundary_opens_the_next_window() {
        assert_eq!(starts(WindowSpec::Tumbling { size: 10 }, 10), [10]);
        assert_eq!(starts(WindowSpec::Tumbling { size: 10 }, 9), [0]);
    }

    #[test]
    fn sliding_windows_cover_an_event_size_over_slide_times() {
        assert_eq!(
            starts(
                WindowSpec::Sliding {
                    size: 60,
                    slide: 15
                },
                31
            ),
            [30, 15, 0, -15]
        );
        assert_eq!(
            starts(
                WindowSpec::Sliding {
                    size: 60,
                    slide: 15
                },
                30
            ),
            [30, 15, 0, -15]
        );
        assert_eq!(
            WindowSpec::Sliding {
                size: 60,
                slide: 15
            }
            .last_end(31),
            Some(90)
        );
    }

    #[test]
    fn times_before_1970_round_down() {
        assert_eq!(starts(WindowSpec::Tumbling { size: 10 }, -1), [-10]);
        assert_eq!(starts(WindowSpec::Tumbling { size: 10 }, -10), [-10]);
        assert_eq!(WindowSpec::Tumbling { size: 10 }.last_end(-1), Some(0));
    }
}
