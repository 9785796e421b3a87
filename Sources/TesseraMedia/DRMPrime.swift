internal import CFFmpeg
import TesseraCore

/// VAAPI surfaces handed to the renderer as dma-bufs (AV_PIX_FMT_DRM_PRIME) instead of being
/// downloaded to NV12. Only used when `MediaConfiguration.exportDMABuf` is on (the renderer can
/// import them); any failure falls back to the download for the rest of that decoder's life.
enum DRMPrime {
    /// Maps the VAAPI frame `source` to DRM-PRIME without a copy (`av_hwframe_map`, read-only).
    /// The returned frame holds a reference to the surface through the mapping; freeing it closes
    /// the exported descriptors and releases the surface.
    static func map(_ source: UnsafeMutablePointer<AVFrame>, url: String) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        guard let mapped = av_frame_alloc() else { throw .av("av_frame_alloc", url, tessera_averror(ENOMEM)) }
        mapped.pointee.format = AV_PIX_FMT_DRM_PRIME.rawValue
        let rc = av_hwframe_map(mapped, source, Int32(tessera_av_hwframe_map_read()))
        guard rc >= 0 else {
            var m: UnsafeMutablePointer<AVFrame>? = mapped
            av_frame_free(&m)
            throw .av("av_hwframe_map(vaapi → drm_prime)", url, rc)
        }
        return mapped
    }

    /// Core's description of an exported surface, or nil when its layers are not a layout Core
    /// draws. FFmpeg exports VAAPI surfaces with separate layers (NV12 as an R8 layer and a GR88
    /// layer); those are recombined into one multi-planar fourcc, which is what EGL imports.
    static func description(of d: UnsafeMutablePointer<AVDRMFrameDescriptor>, size: Size,
                            matrix: ColorMatrix, range: ColorRange) -> DMABufDescription? {
        let maxPlanes = Int(tessera_av_drm_max_planes())
        let objects = Int(d.pointee.nb_objects), layerCount = Int(d.pointee.nb_layers)
        guard (1...maxPlanes).contains(objects), (1...maxPlanes).contains(layerCount) else { return nil }
        var formats: [UInt32] = []
        var planes: [DMABufPlane] = []
        var modifiers = Set<UInt64>()
        for l in 0..<layerCount {
            let layer = tessera_drm_layer(d, Int32(l))!
            let n = Int(layer.pointee.nb_planes)
            guard (1...maxPlanes).contains(n) else { return nil }
            formats.append(layer.pointee.format)
            for p in 0..<n {
                let plane = tessera_drm_plane(layer, Int32(p))!.pointee
                let index = Int(plane.object_index)
                guard (0..<objects).contains(index) else { return nil }
                let object = tessera_drm_object(d, Int32(index))!.pointee
                guard object.fd >= 0, plane.offset >= 0, plane.pitch > 0 else { return nil }
                planes.append(DMABufPlane(fd: object.fd, offset: plane.offset, pitch: plane.pitch))
                modifiers.insert(object.format_modifier)
            }
        }
        guard planes.count <= maxPlanes, modifiers.count == 1 else { return nil }
        let r8 = DMABufDescription.r8
        let fourcc: UInt32
        if formats.count == 1 {
            fourcc = formats[0]
        } else if formats == [r8, DMABufDescription.gr88], planes.count == 2 {
            fourcc = DMABufDescription.nv12
        } else if formats == [r8, r8, r8], planes.count == 3 {
            fourcc = DMABufDescription.yuv420
        } else {
            return nil
        }
        let modifier = modifiers.first!
        let desc = DMABufDescription(size: size, fourcc: fourcc,
                                     modifier: modifier == DMABufDescription.modifierInvalid ? nil : modifier,
                                     planes: planes, matrix: matrix, range: range)
        guard let format = desc.pixelFormat, format.planeCount == planes.count else { return nil }
        return desc
    }

    /// A frame carrying the dma-buf of `mapped` (a DRM-PRIME frame from `map`), taking ownership
    /// of it; nil (and `mapped` freed) when its layout is not one Core draws.
    static func frame(taking mapped: UnsafeMutablePointer<AVFrame>, decodedAt: ContinuousClock.Instant, arrivedAt: ContinuousClock.Instant?) -> DecodedFrame? {
        let f = mapped.pointee
        let size = Size(width: Int(f.width), height: Int(f.height))
        let (matrix, range) = DecodedFrame.color(of: mapped)
        guard let d = tessera_frame_drm_descriptor(mapped),
              let desc = description(of: d, size: size, matrix: matrix, range: range) else {
            var m: UnsafeMutablePointer<AVFrame>? = mapped
            av_frame_free(&m)
            return nil
        }
        return DecodedFrame(taking: mapped, decodedAt: decodedAt, arrivedAt: arrivedAt, dmaBuf: desc)
    }
}
