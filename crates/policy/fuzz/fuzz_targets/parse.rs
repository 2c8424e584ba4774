//! Fuzz the policy parser, printer and linter on arbitrary text.
#![no_main]

use cubby_policy::{Policy, PolicyKind, lint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Resource,
        PolicyKind::Bucket,
        PolicyKind::Trust,
    ] {
        let Ok(policy) = Policy::parse_as(text, kind) else {
            continue;
        };
        let printed = policy.to_json();
        let again = match Policy::parse_as(&printed, kind) {
            Ok(p) => p,
            Err(e) => panic!("canonical output does not re-parse: {e}\n{printed}"),
        };
        assert_eq!(again.to_json(), printed, "printing is not stable");
        assert_eq!(again.is_public(), policy.is_public());
        let _ = lint(&policy);
    }
});
