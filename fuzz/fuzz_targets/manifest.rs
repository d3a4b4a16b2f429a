//! The manifest parser (`format::manifest::Manifest::parse`): schema, ranges, canonical form and
//! the cross-checks of `docs/format.md` section 3. Anything accepted must re-render
//! byte-identically (there is exactly one valid text per manifest), and the values derived from
//! it must be computable without overflow.
#![no_main]

use airlock::format::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        assert_eq!(
            m.to_canonical().as_bytes(),
            data,
            "an accepted manifest re-renders byte-identically"
        );
        let again = Manifest::parse(m.to_canonical().as_bytes()).expect("the rendering parses");
        assert_eq!(again.to_canonical(), m.to_canonical());
        let _ = m.checksum_file();
    }
});
