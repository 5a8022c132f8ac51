//! The glue between the contract's exported functions and a [`Transform`]:
//! it keeps the instance, the input schema and the plan between calls.

use crate::bindings::exports::weir::plugin::transformer::Guest;
use crate::bindings::weir::plugin::types as wit;
use crate::{Batch, Config, Plan, Schema, Transform};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

/// The type `export_transform!` exports; not for direct use.
pub struct Exported<T>(PhantomData<T>);

struct Session<T> {
    transform: T,
    /// The full input schema and the plan, once `describe` has run.
    planned: Option<(Schema, Plan)>,
}

thread_local! {
    // A component instance is single-threaded; the cell holds the one
    // `Session<T>` of this instance, typed by the exported transform.
    static SESSION: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with_session<T: Transform, R>(
    f: impl FnOnce(&mut Session<T>) -> Result<R, String>,
) -> Result<R, String> {
    SESSION.with_borrow_mut(|slot| {
        match slot.as_mut().and_then(|s| s.downcast_mut::<Session<T>>()) {
            Some(session) => f(session),
            None => Err("the host called the transform before `init`".to_string()),
        }
    })
}

impl<T: Transform> Guest for Exported<T> {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let transform = T::new(&Config::new(config)).map_err(|e| e.message().to_string())?;
        SESSION.with_borrow_mut(|slot| {
            *slot = Some(Box::new(Session {
                transform,
                planned: None,
            }))
        });
        Ok(())
    }

    fn describe(input: wit::Schema) -> Result<wit::Plan, String> {
        with_session::<T, _>(|session| {
            let input = Schema::from_wit(&input);
            let plan = session
                .transform
                .describe(&input)
                .map_err(|e| e.message().to_string())?;
            let wit_plan = plan.to_wit(&input).map_err(|e| e.message().to_string())?;
            session.planned = Some((input, plan));
            Ok(wit_plan)
        })
    }

    fn process(input: wit::Batch) -> Result<wit::TransformOutput, String> {
        with_session::<T, _>(|session| {
            let Some((schema, plan)) = &session.planned else {
                return Err("the host called `process` before `describe`".to_string());
            };
            let batch = Batch::new(input);
            let output = session
                .transform
                .process(&batch)
                .map_err(|e| e.message().to_string())?;
            output
                .into_wit(schema, plan)
                .map_err(|e| e.message().to_string())
        })
    }
}
