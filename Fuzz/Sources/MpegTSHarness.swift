import TesseraMedia

/// MPEG-TS bytes as a UDP, SRT or TCP stream could deliver them: demuxed and decoded in memory
/// (`MemoryDemux`: a custom AVIOContext, no network, no files) with the live path's demuxer flags,
/// keyframe wait, decoder and frame hand-over (stamp reading included).
let mpegtsHarness = Harness(name: "mpegts", summary: "MPEG-TS bytes: demux, keyframe wait, decode, stamps (in memory)") { bytes in
    MemoryDemux.decodeMPEGTS(bytes, maxPackets: 512)
}
