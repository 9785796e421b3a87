import TesseraCore

/// Finds and replaces the `TestStamp` in one H.264 access unit in Annex B form (NAL units after
/// 00 00 01 or 00 00 00 01 start codes, as MPEG-TS carries them), without decoding anything.
/// The test publisher's replay mode uses it to give every picture of a pre-encoded clip a new
/// participant, frame number and capture time as it sends it.
///
/// The stamp is a user_data_unregistered SEI message (payloadType 5) whose payload starts with
/// `TestStamp.uuid`. SEI NAL units are read as RBSP: emulation-prevention bytes removed first
/// (the UUID itself ends in 00 00 01, so in the bitstream it is always escaped), then put back
/// after the 20 stamp bytes are replaced; the new values may need more or fewer of them, so the
/// rewritten access unit can differ in length from the original.
public enum StampRewriter {
    /// `accessUnit` with every TestStamp replaced by `stamp`; nil when it carries none (it is then
    /// to be sent unchanged). Bytes outside the stamped SEI NAL units are copied as they are.
    public static func rewrite(_ accessUnit: UnsafeRawBufferPointer, with stamp: TestStamp) -> [UInt8]? {
        let payload = stamp.seiPayload
        var out: [UInt8] = []
        var copied = 0 // accessUnit[..<copied] is in `out` already
        for nal in nalUnits(accessUnit) where accessUnit[nal.lowerBound] & 0x1f == 6 {
            var rbsp = unescape(accessUnit[(nal.lowerBound + 1)..<nal.upperBound])
            var found = false
            forEachStamp(in: rbsp) { range in
                rbsp.replaceSubrange(range, with: payload[16...])
                found = true
            }
            guard found else { continue }
            if out.isEmpty { out.reserveCapacity(accessUnit.count + 8) }
            out.append(contentsOf: accessUnit[copied...nal.lowerBound]) // up to and with the NAL header
            out.append(contentsOf: escape(rbsp))
            copied = nal.upperBound
        }
        if out.isEmpty { return nil }
        out.append(contentsOf: accessUnit[copied...])
        return out
    }

    /// Convenience for `[UInt8]`.
    public static func rewrite(_ accessUnit: [UInt8], with stamp: TestStamp) -> [UInt8]? {
        accessUnit.withUnsafeBytes { rewrite($0, with: stamp) }
    }

    /// Every TestStamp in `accessUnit`, in bitstream order.
    public static func stamps(in accessUnit: [UInt8]) -> [TestStamp] {
        accessUnit.withUnsafeBytes { au in
            var found: [TestStamp] = []
            for nal in nalUnits(au) where au[nal.lowerBound] & 0x1f == 6 {
                let rbsp = unescape(au[(nal.lowerBound + 1)..<nal.upperBound])
                forEachStamp(in: rbsp) { range in
                    let message = Array(rbsp[(range.lowerBound - 16)..<range.upperBound])
                    if let s = message.withUnsafeBytes({ TestStamp(seiPayload: $0) }) { found.append(s) }
                }
            }
            return found
        }
    }

    /// The NAL units of an Annex B byte stream: from the NAL header byte to the last byte before
    /// the next start code, without trailing zero bytes (those belong to the next start code or
    /// are trailing_zero_8bits, and are not part of the NAL unit).
    static func nalUnits(_ b: UnsafeRawBufferPointer) -> [Range<Int>] {
        var starts: [Int] = [] // index of the byte after each 00 00 01
        var i = 0
        while i + 2 < b.count {
            if b[i + 2] > 1 { i += 3 } // no start code can begin at i, i+1 or i+2
            else if b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1 { starts.append(i + 3); i += 3 }
            else { i += 1 }
        }
        var units: [Range<Int>] = []
        for (k, start) in starts.enumerated() {
            var end = k + 1 < starts.count ? starts[k + 1] - 3 : b.count
            while end > start && b[end - 1] == 0 { end -= 1 }
            if end > start { units.append(start..<end) }
        }
        return units
    }

    /// NAL unit payload → RBSP: every 03 that follows 00 00 is an emulation-prevention byte.
    static func unescape<C: Collection<UInt8>>(_ bytes: C) -> [UInt8] {
        var rbsp: [UInt8] = []
        rbsp.reserveCapacity(bytes.count)
        var zeros = 0
        for b in bytes {
            if zeros >= 2 && b == 3 { zeros = 0; continue }
            rbsp.append(b)
            zeros = b == 0 ? zeros + 1 : 0
        }
        return rbsp
    }

    /// RBSP → NAL unit payload: a 03 before any 00, 01, 02 or 03 that follows 00 00 (so that no
    /// start code appears inside the unit), and after a final 00 00 (a unit cannot end in zero).
    static func escape(_ rbsp: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rbsp.count + rbsp.count / 64 + 2)
        var zeros = 0
        for b in rbsp {
            if zeros >= 2 && b <= 3 { out.append(3); zeros = 0 }
            out.append(b)
            zeros = b == 0 ? zeros + 1 : 0
        }
        if zeros >= 2 { out.append(3) }
        return out
    }

    /// Calls `body` with the range of the 20 bytes after the UUID (participant, frame, capture
    /// time) of each TestStamp message in an SEI RBSP. Stops at the trailing bits or at a message
    /// that claims more bytes than are left (a damaged SEI is left alone, not guessed at).
    static func forEachStamp(in rbsp: [UInt8], _ body: (Range<Int>) -> Void) {
        // The RBSP ends in rbsp_trailing_bits: its last byte holds the stop bit.
        let end = rbsp.last.map { $0 == 0x80 ? rbsp.count - 1 : rbsp.count } ?? 0
        var i = 0
        func codedValue() -> Int? { // runs of 0xFF, each worth 255, then the last byte
            var v = 0
            while i < end {
                let b = rbsp[i]; i += 1
                v += Int(b)
                if b != 0xff { return v }
            }
            return nil
        }
        while i < end {
            guard let type = codedValue(), let size = codedValue(), size <= end - i else { return }
            let payload = i..<(i + size)
            if type == 5, size >= 36, rbsp[payload.prefix(16)].elementsEqual(TestStamp.uuid) {
                body((payload.lowerBound + 16)..<(payload.lowerBound + 36))
            }
            i = payload.upperBound
        }
    }
}
