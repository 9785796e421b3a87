internal import CEGL
import TesseraCore

/// The EGL_EXT_image_dma_buf_import attribute list for a dma-buf picture: size, fourcc, per-plane
/// fd/offset/pitch, the modifier per plane when EGL_EXT_image_dma_buf_import_modifiers is there,
/// and the YUV matrix/range hints. Nil when EGL cannot be told the picture: more than four
/// planes, values beyond EGLint, or an explicit non-linear modifier without the modifiers
/// extension (imported as implicit, a tiled surface would show as garbage).
enum DMABufAttributes {
    static func make(_ d: DMABufDescription, modifiers: Bool) -> [Int32]? {
        let fd = [EGL_DMA_BUF_PLANE0_FD_EXT, EGL_DMA_BUF_PLANE1_FD_EXT, EGL_DMA_BUF_PLANE2_FD_EXT, EGL_DMA_BUF_PLANE3_FD_EXT]
        let offset = [EGL_DMA_BUF_PLANE0_OFFSET_EXT, EGL_DMA_BUF_PLANE1_OFFSET_EXT, EGL_DMA_BUF_PLANE2_OFFSET_EXT, EGL_DMA_BUF_PLANE3_OFFSET_EXT]
        let pitch = [EGL_DMA_BUF_PLANE0_PITCH_EXT, EGL_DMA_BUF_PLANE1_PITCH_EXT, EGL_DMA_BUF_PLANE2_PITCH_EXT, EGL_DMA_BUF_PLANE3_PITCH_EXT]
        let lo = [EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE2_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_LO_EXT]
        let hi = [EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_HI_EXT, EGL_DMA_BUF_PLANE2_MODIFIER_HI_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_HI_EXT]
        guard (1...4).contains(d.planes.count), let w = Int32(exactly: d.size.width), let h = Int32(exactly: d.size.height) else { return nil }
        if let m = d.modifier, !modifiers, m != DMABufDescription.modifierLinear { return nil }
        var a: [Int32] = [EGL_WIDTH, w, EGL_HEIGHT, h, EGL_LINUX_DRM_FOURCC_EXT, Int32(bitPattern: d.fourcc)]
        for (i, p) in d.planes.enumerated() {
            guard let o = Int32(exactly: p.offset), let s = Int32(exactly: p.pitch) else { return nil }
            a += [fd[i], p.fd, offset[i], o, pitch[i], s]
            if modifiers, let m = d.modifier {
                a += [lo[i], Int32(bitPattern: UInt32(truncatingIfNeeded: m)), hi[i], Int32(bitPattern: UInt32(truncatingIfNeeded: m >> 32))]
            }
        }
        if d.pixelFormat != .bgra {
            a += [EGL_YUV_COLOR_SPACE_HINT_EXT, Self.colourSpaceHint(d.matrix),
                  EGL_SAMPLE_RANGE_HINT_EXT, d.range == .full ? EGL_YUV_FULL_RANGE_EXT : EGL_YUV_NARROW_RANGE_EXT]
        }
        return a + [EGL_NONE]
    }

    /// `EGL_YUV_COLOR_SPACE_HINT_EXT`'s value for a stream's matrix.
    static func colourSpaceHint(_ m: ColorMatrix) -> Int32 {
        switch m {
        case .bt601: EGL_ITU_REC601_EXT
        case .bt709: EGL_ITU_REC709_EXT
        case .bt2020: EGL_ITU_REC2020_EXT
        }
    }
}

/// Where an imported image is cached: a plane-0 buffer and offset. Only valid while the frame that
/// owns the descriptor lives (a closed fd's number is reused), so each entry holds its frame.
struct DMABufKey: Hashable {
    var fd: Int32
    var offset: Int
}

/// eglCreateImageKHR / eglDestroyImageKHR / glEGLImageTargetTexture2DOES, looked up once
/// (libEGL does not export the KHR entry points; Mesa hands them out through eglGetProcAddress).
final class DMABufImporter {
    private let display: EGLDisplay
    /// EGL_EXT_image_dma_buf_import_modifiers: modifiers are passed per plane.
    let modifiers: Bool
    private let createImage: PFNEGLCREATEIMAGEKHRPROC
    private let destroyImage: PFNEGLDESTROYIMAGEKHRPROC
    private let targetTexture: PFNGLEGLIMAGETARGETTEXTURE2DOESPROC

    init(display: EGLDisplay, modifiers: Bool) throws(RenderError) {
        guard let c = eglGetProcAddress("eglCreateImageKHR") else {
            throw .egl(operation: "eglGetProcAddress(eglCreateImageKHR)", code: eglGetError())
        }
        guard let d = eglGetProcAddress("eglDestroyImageKHR") else {
            throw .egl(operation: "eglGetProcAddress(eglDestroyImageKHR)", code: eglGetError())
        }
        guard let t = eglGetProcAddress("glEGLImageTargetTexture2DOES") else {
            throw .egl(operation: "eglGetProcAddress(glEGLImageTargetTexture2DOES)", code: eglGetError())
        }
        self.display = display
        self.modifiers = modifiers
        createImage = unsafeBitCast(c, to: PFNEGLCREATEIMAGEKHRPROC.self)
        destroyImage = unsafeBitCast(d, to: PFNEGLDESTROYIMAGEKHRPROC.self)
        targetTexture = unsafeBitCast(t, to: PFNGLEGLIMAGETARGETTEXTURE2DOESPROC.self)
    }

    /// Imports `frame`'s dma-buf as an external texture. Called on the render thread.
    func importFrame(_ frame: any VideoFrame, _ d: DMABufDescription) throws(RenderError) -> ExternalImage {
        let what = "\(d.fourccName) \(d.size.width)x\(d.size.height)" + (d.modifier.map { ", modifier 0x\(String($0, radix: 16))" } ?? "")
        guard let attributes = DMABufAttributes.make(d, modifiers: modifiers) else {
            throw .badFrame("dma-buf \(what) cannot be described to EGL (planes, sizes, or a modifier without EGL_EXT_image_dma_buf_import_modifiers)")
        }
        guard let image = createImage(display, tessera_egl_no_context(), EGLenum(EGL_LINUX_DMA_BUF_EXT), nil, attributes) else {
            throw .egl(operation: "eglCreateImageKHR(EGL_LINUX_DMA_BUF_EXT, \(what))", code: eglGetError())
        }
        let external = ExternalImage(frame: frame, image: image, importer: self)
        glBindTexture(GLenum(GL_TEXTURE_EXTERNAL_OES), external.texture)
        targetTexture(GLenum(GL_TEXTURE_EXTERNAL_OES), image)
        let e = glGetError()
        guard e == GLenum(GL_NO_ERROR) else { throw .gl(operation: "glEGLImageTargetTexture2DOES(\(what))", code: e) }
        return external
    }

    fileprivate func destroy(_ image: EGLImageKHR) { _ = destroyImage(display, image) }
}

/// An EGLImage made from one frame's dma-buf, bound to a GL_TEXTURE_EXTERNAL_OES texture. Holds
/// the frame, so its descriptors stay open while the image exists; both GL objects are deleted in
/// deinit (on the render thread, context current).
final class ExternalImage {
    let frame: any VideoFrame
    private let image: EGLImageKHR
    private let importer: DMABufImporter
    private(set) var texture: GLuint = 0

    fileprivate init(frame: any VideoFrame, image: EGLImageKHR, importer: DMABufImporter) {
        self.frame = frame; self.image = image; self.importer = importer
        glGenTextures(1, &texture)
        let target = GLenum(GL_TEXTURE_EXTERNAL_OES)
        glBindTexture(target, texture)
        glTexParameteri(target, GLenum(GL_TEXTURE_MIN_FILTER), GL_LINEAR)
        glTexParameteri(target, GLenum(GL_TEXTURE_MAG_FILTER), GL_LINEAR)
        glTexParameteri(target, GLenum(GL_TEXTURE_WRAP_S), GL_CLAMP_TO_EDGE)
        glTexParameteri(target, GLenum(GL_TEXTURE_WRAP_T), GL_CLAMP_TO_EDGE)
    }

    deinit {
        glDeleteTextures(1, &texture)
        importer.destroy(image)
    }
}
