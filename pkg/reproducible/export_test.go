package reproducible

// ZstdFrameSize is how many input bytes each zstd frame holds.
const ZstdFrameSize = zstdFrameSize
