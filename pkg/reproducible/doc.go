// Package reproducible is the determinism policy of rules_imagewriter: the
// default epoch, tar header normalization, path cleaning, the one canonical
// JSON encoder and the compression settings. Every other part of the writer
// uses these and nothing else to decide bytes, so that the same inputs give the
// same digests on any machine.
//
// Nothing here reads the clock, the environment, the host's users or the
// number of CPUs. Values such as SOURCE_DATE_EPOCH are passed in by the caller.
package reproducible
