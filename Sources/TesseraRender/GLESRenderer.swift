import Foundation
import Logging
import Synchronization
internal import CEGL
import TesseraCore

/// Draws scenes with OpenGL ES 3 through EGL: offscreen FBOs on Mesa's surfaceless platform
/// (headless, tests) or EGL window surfaces on GBM (DRM). Frames are uploaded into persistent
/// per-stream textures (row-length aware) only when a stream delivers a new frame; YUV → RGB,
/// bilinear scaling, fit/crop, frames, labels and slates happen in the shaders in `Shaders/`.
/// One renderer per render thread: its EGL context is current on the thread that made it.
public final class GLESRenderer: Renderer, GPUTargetMaker {
    public enum Platform: Sendable {
        /// Mesa's EGL_MESA_platform_surfaceless: no display, offscreen FBOs only.
        case surfaceless
        /// EGL_KHR_platform_gbm on a `struct gbm_device *` (its address), for DRM outputs.
        case gbm(device: UInt)
    }

    public let kind = RendererKind.gles
    public let text: TextCache
    /// GL_RENDERER and GL_VERSION, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", "OpenGL ES 3.2 Mesa 22.3.6".
    public let rendererName: String
    public let versionName: String
    /// Whether dma-buf frames can be imported as EGLImages (EGL_EXT_image_dma_buf_import and
    /// GL_OES_EGL_image_external_essl3). False on llvmpipe.
    public let canImportDMABuf: Bool
    /// Why dma-buf frames are not imported although `canImportDMABuf` said they could (the first
    /// failed eglCreateImageKHR or entry-point lookup); nil while imports work or were never tried.
    /// After it is set, such frames show their CPU copy, or the slate when they have none.
    public private(set) var dmaBufImportProblem: RenderError?
    /// Where the renderer's problems go (the one failed dma-buf import that stops imports, with
    /// `output` and `stream` metadata), on the render thread.
    private let logger: Logger
    /// The shader sources from `Shaders/`, by file name, as built into the binary.
    public static var shaderSources: [String: String] { ShaderSources.files }

    private let egl: EGLState
    private let programs: Programs
    private var vao: GLuint = 0
    private var vbo: GLuint = 0
    private var streams: [StreamID: StreamTextures] = [:]
    private var textTextures: [Int: GLTexture] = [:]
    private var importer: DMABufImporter?
    /// Imported dma-bufs by plane-0 (fd, offset), each holding its frame; kept while shown.
    private var images: [DMABufKey: ExternalImage] = [:]

    public init(platform: Platform = .surfaceless, fonts: FontStack? = nil, logger: Logger = .discarding("tessera.render")) throws {
        self.logger = logger
        text = TextCache(fonts: try fonts ?? FontStack())
        egl = try EGLState(platform: platform)
        rendererName = glString(GL_RENDERER)
        versionName = glString(GL_VERSION)
        let glExtensions = glString(GL_EXTENSIONS).split(separator: " ").map(String.init)
        canImportDMABuf = egl.displayExtensions.contains("EGL_EXT_image_dma_buf_import")
            && glExtensions.contains("GL_OES_EGL_image_external_essl3")
        programs = try Programs(externalSupported: canImportDMABuf)
        if canImportDMABuf {
            do {
                importer = try DMABufImporter(display: egl.display,
                                              modifiers: egl.displayExtensions.contains("EGL_EXT_image_dma_buf_import_modifiers"))
            } catch {
                dmaBufImportProblem = error
            }
        }
        glGenVertexArrays(1, &vao)
        glGenBuffers(1, &vbo)
        glBindVertexArray(vao)
        glBindBuffer(GLenum(GL_ARRAY_BUFFER), vbo)
        glEnableVertexAttribArray(0)
        glEnableVertexAttribArray(1)
        glVertexAttribPointer(0, 2, GLenum(GL_FLOAT), GLboolean(GL_FALSE), 16, nil)
        glVertexAttribPointer(1, 2, GLenum(GL_FLOAT), GLboolean(GL_FALSE), 16, UnsafeRawPointer(bitPattern: 8))
        try checkGL("vertex array setup")
    }

    deinit {
        images.removeAll()
        streams.removeAll()
        textTextures.removeAll()
        glDeleteBuffers(1, &vbo)
        glDeleteVertexArrays(1, &vao)
    }

    /// Tests: try imports although the display does not offer EGL_EXT_image_dma_buf_import, so
    /// that llvmpipe drives the real eglCreateImageKHR failure path.
    func forceDMABufImportForTesting() throws(RenderError) {
        importer = try DMABufImporter(display: egl.display, modifiers: false)
    }

    /// The programs compiled and linked at start-up, by name (the run-time shader check).
    public var compiledPrograms: [String] { programs.names }

    // MARK: Targets

    public func makeOffscreenTarget(size: Size) throws -> any RenderTarget {
        try GLESOffscreenTarget(size: size)
    }

    public func makeSurfaceTarget(_ surface: NativeSurface) throws -> any SwapchainTarget {
        try GLESSurfaceTarget(egl: egl, surface: surface)
    }

    /// Waits until the GPU has carried out every command issued so far (glFinish): benchmarks time
    /// a frame with it. Called on the render thread.
    public func finish() { glFinish() }

    public func readPixels(of target: any RenderTarget) throws -> MemoryBuffer {
        try bind(target)
        let w = target.size.width, h = target.size.height
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        glPixelStorei(GLenum(GL_PACK_ALIGNMENT), 1)
        rgba.withUnsafeMutableBytes { glReadPixels(0, 0, GLsizei(w), GLsizei(h), GLenum(GL_RGBA), GLenum(GL_UNSIGNED_BYTE), $0.baseAddress) }
        try checkGL("glReadPixels(\(w)x\(h))")
        // GL rows run bottom-up; memory buffers run top-down.
        var bgra = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            let src = (h - 1 - y) * w * 4, dst = y * w * 4
            for x in 0..<w {
                let s = src + x * 4, d = dst + x * 4
                bgra[d] = rgba[s + 2]; bgra[d + 1] = rgba[s + 1]; bgra[d + 2] = rgba[s]; bgra[d + 3] = 255
            }
        }
        return MemoryBuffer(size: target.size, bgra: bgra)
    }

    private func bind(_ target: any RenderTarget) throws {
        switch target {
        case let t as GLESOffscreenTarget:
            guard eglMakeCurrent(egl.display, tessera_egl_no_surface(), tessera_egl_no_surface(), egl.context) == EGL_TRUE else {
                throw RenderError.egl(operation: "eglMakeCurrent(surfaceless)", code: eglGetError())
            }
            glBindFramebuffer(GLenum(GL_FRAMEBUFFER), t.framebuffer)
        case let t as GLESSurfaceTarget:
            guard eglMakeCurrent(egl.display, t.surface, t.surface, egl.context) == EGL_TRUE else {
                throw RenderError.egl(operation: "eglMakeCurrent(window surface)", code: eglGetError())
            }
            glBindFramebuffer(GLenum(GL_FRAMEBUFFER), 0)
        default:
            throw RenderError.unsupportedTarget(renderer: kind, target: "\(type(of: target))")
        }
    }

    // MARK: Drawing

    public func draw(_ output: OutputScene, sources: any FrameSourceLookup, into target: any RenderTarget) throws -> RenderStats {
        let logical = output.rotation.swapsAxes ? Size(width: target.size.height, height: target.size.width) : target.size
        guard logical == output.size else {
            throw RenderError.cpu(operation: "draw output \(output.id): scene is \(output.size.width)x\(output.size.height), target is \(logical.width)x\(logical.height) after rotation")
        }
        try bind(target)
        glViewport(0, 0, GLsizei(target.size.width), GLsizei(target.size.height))
        glDisable(GLenum(GL_BLEND))
        let bg = output.background
        glClearColor(Float(bg.red) / 255, Float(bg.green) / 255, Float(bg.blue) / 255, 1)
        glClear(GLbitfield(GL_COLOR_BUFFER_BIT))
        let transform = Self.transform(logical: output.size, panel: target.size, rotation: output.rotation)
        for program in programs.all {
            glUseProgram(program.id)
            transform.withUnsafeBufferPointer { glUniformMatrix3fv(program.transform, 1, GLboolean(GL_FALSE), $0.baseAddress) }
        }
        glBindVertexArray(vao)
        glBindBuffer(GLenum(GL_ARRAY_BUFFER), vbo)

        var stats = RenderStats()
        stats.fullRedraw = true
        var usedText = Set<Int>()
        var seen = Set<StreamID>()
        var shownImages = Set<DMABufKey>()
        for tile in output.tiles {
            var plan = TilePlan.make(tile, sources: sources, text: text, importsDMABuf: importer != nil)
            var external: ExternalImage?
            if let importer, let frame = plan.frame, let d = frame.dmaBuf, let first = d.planes.first {
                let key = DMABufKey(fd: first.fd, offset: first.offset)
                if let cached = images[key], cached.frame === frame {
                    external = cached
                } else {
                    do {
                        external = try importer.importFrame(frame, d)
                        images[key] = external
                        stats.framesConverted += 1
                    } catch {
                        // Once, then never again: the frame's CPU copy, or the slate, from now on.
                        self.importer = nil
                        images.removeAll()
                        dmaBufImportProblem = error
                        logger.warning("dma-buf import failed; frames show their CPU copy or the slate from now on: \(error)",
                                       metadata: ["output": "\(output.id)",
                                                  "stream": "\(tile.participant.map { "\(StreamID($0, tile.stream))" } ?? "-")"])
                        plan = TilePlan.make(tile, sources: sources, text: text, importsDMABuf: false)
                    }
                }
                if external != nil { shownImages.insert(key) }
            }
            for op in plan.under { try execute(op, usedText: &usedText) }
            if plan.placement != nil, let frame = plan.frame { stats.pictures.append(frame) }
            if let external, let placement = plan.placement {
                drawExternal(external, placement: placement)
            } else if let frame = plan.frame, let placement = plan.placement, let participant = tile.participant {
                let key = StreamID(participant, tile.stream)
                seen.insert(key)
                let textures = streams[key] ?? StreamTextures()
                streams[key] = textures
                if try textures.upload(frame) { stats.framesConverted += 1 }
                try drawPicture(textures, frame: frame, placement: placement)
            }
            for op in plan.over { try execute(op, usedText: &usedText) }
            stats.tilesDrawn += 1
        }
        // Streams no longer shown give their textures back; images no longer shown their frames.
        streams = streams.filter { seen.contains($0.key) }
        images = images.filter { shownImages.contains($0.key) }
        if textTextures.count > 2 * usedText.count + 256 { textTextures = textTextures.filter { usedText.contains($0.key) } }
        try checkGL("draw output \(output.id)")
        return stats
    }

    private func execute(_ op: DrawOp, usedText: inout Set<Int>) throws {
        switch op {
        case .fill(let rect, let color):
            setBlend(color.alpha < 255)
            let p = programs.solid
            glUseProgram(p.id)
            glUniform4f(p.uniform("u_color"), Float(color.red) / 255, Float(color.green) / 255, Float(color.blue) / 255, Float(color.alpha) / 255)
            quad(rect, u0: 0, v0: 0, u1: 1, v1: 1)
        case .text(let image, let origin, let clip, let color):
            guard image.width > 0, let shown = Rect(x: origin.x, y: origin.y, width: image.width, height: image.height).intersection(clip) else { return }
            usedText.insert(image.id)
            let texture: GLTexture
            if let t = textTextures[image.id] { texture = t } else {
                texture = GLTexture()
                texture.upload(width: image.width, height: image.height, internalFormat: GL_R8, format: GL_RED, rowLength: image.width) { body in
                    image.coverage.withUnsafeBytes { body($0.baseAddress!) }
                }
                textTextures[image.id] = texture
            }
            setBlend(true)
            let p = programs.text
            glUseProgram(p.id)
            glUniform4f(p.uniform("u_color"), Float(color.red) / 255, Float(color.green) / 255, Float(color.blue) / 255, Float(color.alpha) / 255)
            glActiveTexture(GLenum(GL_TEXTURE0))
            glBindTexture(GLenum(GL_TEXTURE_2D), texture.id)
            // Text is drawn 1:1: nearest sampling keeps glyph edges as FreeType made them.
            texture.setFilter(GL_NEAREST)
            glUniform1i(p.uniform("u_coverage"), 0)
            let w = Float(image.width), h = Float(image.height)
            quad(shown, u0: Float(shown.x - origin.x) / w, v0: Float(shown.y - origin.y) / h,
                 u1: Float(shown.maxX - origin.x) / w, v1: Float(shown.maxY - origin.y) / h)
        }
    }

    private func drawPicture(_ textures: StreamTextures, frame: any VideoFrame, placement: TilePlacement) throws {
        setBlend(false)
        let program: Program
        switch frame.format {
        case .yuv420p: program = programs.yuv420p
        case .nv12: program = programs.nv12
        case .bgra: program = programs.bgra
        }
        glUseProgram(program.id)
        let names: [String] = switch frame.format {
        case .yuv420p: ["u_y", "u_u", "u_v"]
        case .nv12: ["u_y", "u_uv"]
        case .bgra: ["u_rgba"]
        }
        for (i, name) in names.enumerated() {
            glActiveTexture(GLenum(GL_TEXTURE0 + Int32(i)))
            glBindTexture(GLenum(GL_TEXTURE_2D), textures.planes[i].id)
            glUniform1i(program.uniform(name), GLint(i))
        }
        if frame.format != .bgra {
            let c = ColorConversion(matrix: frame.matrix, range: frame.range)
            glUniform3f(program.uniform("u_offset"), c.offset.0, c.offset.1, c.offset.2)
            c.matrix.withUnsafeBufferPointer { glUniformMatrix3fv(program.uniform("u_matrix"), 1, GLboolean(GL_FALSE), $0.baseAddress) }
        }
        let w = Float(frame.size.width), h = Float(frame.size.height)
        quad(placement.destination,
             u0: Float(placement.sourceX) / w, v0: Float(placement.sourceY) / h,
             u1: Float(placement.sourceX + placement.sourceWidth) / w, v1: Float(placement.sourceY + placement.sourceHeight) / h)
    }

    /// An imported dma-buf through the external-image program: the driver samples YUV as RGB.
    private func drawExternal(_ image: ExternalImage, placement: TilePlacement) {
        guard let program = programs.external else { return }
        setBlend(false)
        glUseProgram(program.id)
        glActiveTexture(GLenum(GL_TEXTURE0))
        glBindTexture(GLenum(GL_TEXTURE_EXTERNAL_OES), image.texture)
        glUniform1i(program.uniform("u_external"), 0)
        let w = Float(image.frame.size.width), h = Float(image.frame.size.height)
        quad(placement.destination,
             u0: Float(placement.sourceX) / w, v0: Float(placement.sourceY) / h,
             u1: Float(placement.sourceX + placement.sourceWidth) / w, v1: Float(placement.sourceY + placement.sourceHeight) / h)
    }

    private func setBlend(_ on: Bool) {
        if on {
            glEnable(GLenum(GL_BLEND))
            // Colour blends; the framebuffer's alpha stays opaque for scan-out and snapshots.
            glBlendFuncSeparate(GLenum(GL_SRC_ALPHA), GLenum(GL_ONE_MINUS_SRC_ALPHA), GLenum(GL_ZERO), GLenum(GL_ONE))
        } else {
            glDisable(GLenum(GL_BLEND))
        }
    }

    /// One rectangle in logical pixels with texture coordinates (v down, as the source rows run).
    private func quad(_ r: Rect, u0: Float, v0: Float, u1: Float, v1: Float) {
        let x0 = Float(r.minX), y0 = Float(r.minY), x1 = Float(r.maxX), y1 = Float(r.maxY)
        let vertices: [Float] = [x0, y0, u0, v0, x1, y0, u1, v0, x0, y1, u0, v1, x1, y1, u1, v1]
        vertices.withUnsafeBytes { glBufferData(GLenum(GL_ARRAY_BUFFER), $0.count, $0.baseAddress, GLenum(GL_STREAM_DRAW)) }
        glDrawArrays(GLenum(GL_TRIANGLE_STRIP), 0, 4)
    }

    /// Logical pixels → panel pixels (turned by `rotation`, see Rotation.logicalPoint) → clip
    /// space with +y at the panel's top row. Column-major 3x3.
    static func transform(logical: Size, panel: Size, rotation: Rotation) -> [Float] {
        let W = Float(panel.width), H = Float(panel.height)
        // panel = A * logical + b, as (a, b, c, d, e, f): px = a*x + b*y + c, py = d*x + e*y + f.
        let (a, b, c, d, e, f): (Float, Float, Float, Float, Float, Float) = switch rotation {
        case .none: (1, 0, 0, 0, 1, 0)
        case .quarter: (0, 1, 0, -1, 0, H)
        case .half: (-1, 0, W, 0, -1, H)
        case .threeQuarters: (0, -1, W, 1, 0, 0)
        }
        // ndcX = 2*px/W - 1; ndcY = 1 - 2*py/H.
        let sx = 2 / W, sy = -2 / H
        let col0: [Float] = [sx * a, sy * d, 0]
        let col1: [Float] = [sx * b, sy * e, 0]
        let col2: [Float] = [sx * c - 1, sy * f + 1, 1]
        return col0 + col1 + col2
    }
}

/// The YCbCr → RGB conversion a shader applies: rgb = matrix * (yuv - offset), on texture values
/// (code / 255), from the same equations as the CPU renderer's tables (`YCbCrEquations`).
struct ColorConversion {
    var offset: (Float, Float, Float)
    /// Column-major 3x3.
    var matrix: [Float]

    init(matrix m: ColorMatrix, range: ColorRange) {
        let e = YCbCrEquations(matrix: m, range: range)
        offset = (Float(e.yOffset / 255), Float(128.0 / 255), Float(128.0 / 255))
        // Columns: Y, Cb, Cr.
        matrix = [e.yScale, e.yScale, e.yScale, 0, e.gCb, e.bCb, e.rCr, e.gCr, 0].map { Float($0) }
    }
}

// MARK: - GL objects

/// A GL texture deleted in deinit (on the render thread, context current).
final class GLTexture {
    var id: GLuint = 0
    private(set) var width = 0, height = 0, internalFormat: Int32 = 0
    private var filter: Int32 = 0
    init() {
        glGenTextures(1, &id)
        glBindTexture(GLenum(GL_TEXTURE_2D), id)
        glTexParameteri(GLenum(GL_TEXTURE_2D), GLenum(GL_TEXTURE_WRAP_S), GL_CLAMP_TO_EDGE)
        glTexParameteri(GLenum(GL_TEXTURE_2D), GLenum(GL_TEXTURE_WRAP_T), GL_CLAMP_TO_EDGE)
        setFilter(GL_LINEAR)
    }
    deinit { glDeleteTextures(1, &id) }

    func setFilter(_ f: Int32) {
        guard f != filter else { return }
        glTexParameteri(GLenum(GL_TEXTURE_2D), GLenum(GL_TEXTURE_MIN_FILTER), f)
        glTexParameteri(GLenum(GL_TEXTURE_2D), GLenum(GL_TEXTURE_MAG_FILTER), f)
        filter = f
    }

    /// Uploads rows of `rowLength` pixels (GL_UNPACK_ROW_LENGTH: strided planes upload without a
    /// copy); storage is (re)allocated only when the size or format changes.
    func upload(width w: Int, height h: Int, internalFormat: Int32, format: Int32, rowLength: Int,
                _ bytes: ((UnsafeRawPointer) -> Void) -> Void) {
        glBindTexture(GLenum(GL_TEXTURE_2D), id)
        glPixelStorei(GLenum(GL_UNPACK_ALIGNMENT), 1)
        glPixelStorei(GLenum(GL_UNPACK_ROW_LENGTH), GLint(rowLength))
        bytes { base in
            if w != width || h != height || internalFormat != self.internalFormat {
                glTexImage2D(GLenum(GL_TEXTURE_2D), 0, internalFormat, GLsizei(w), GLsizei(h), 0, GLenum(format), GLenum(GL_UNSIGNED_BYTE), base)
                width = w; height = h; self.internalFormat = internalFormat
            } else {
                glTexSubImage2D(GLenum(GL_TEXTURE_2D), 0, 0, 0, GLsizei(w), GLsizei(h), GLenum(format), GLenum(GL_UNSIGNED_BYTE), base)
            }
        }
        glPixelStorei(GLenum(GL_UNPACK_ROW_LENGTH), 0)
    }
}

/// One stream's persistent textures, refilled only when the stream delivers a new frame.
final class StreamTextures {
    var planes: [GLTexture] = []
    /// Held so that the identity cannot be reused by a newer frame while we compare with it.
    private var uploaded: (any VideoFrame)?

    /// Uploads `frame` unless it is the one already uploaded; returns whether it uploaded.
    func upload(_ frame: any VideoFrame) throws(RenderError) -> Bool {
        if let uploaded, uploaded === frame { return false }
        let format = frame.format
        while planes.count < format.planeCount { planes.append(GLTexture()) }
        for i in 0..<format.planeCount {
            let size = format.planeSize(i, of: frame.size)
            let bpp = format.bytesPerPixel(plane: i)
            let stride = frame.stride(ofPlane: i)
            guard stride % bpp == 0, stride >= size.width * bpp else { throw .badFrame("plane \(i) stride \(stride) is not whole pixels") }
            let (internalFormat, glFormat): (Int32, Int32) = switch bpp {
            case 1: (GL_R8, GL_RED)
            case 2: (GL_RG8, GL_RG)
            default: (GL_RGBA8, GL_RGBA)
            }
            planes[i].upload(width: size.width, height: size.height, internalFormat: internalFormat, format: glFormat,
                             rowLength: stride / bpp) { body in
                frame.withPlane(i) { span in span.withUnsafeBytes { body($0.baseAddress!) } }
            }
        }
        uploaded = frame
        return true
    }
}

/// An FBO with an RGBA8 texture: the headless GLES framebuffer.
public final class GLESOffscreenTarget: RenderTarget {
    public let size: Size
    var framebuffer: GLuint = 0
    var texture: GLuint = 0

    init(size: Size) throws {
        self.size = size
        glGenTextures(1, &texture)
        glBindTexture(GLenum(GL_TEXTURE_2D), texture)
        glTexStorage2D(GLenum(GL_TEXTURE_2D), 1, GLenum(GL_RGBA8), GLsizei(size.width), GLsizei(size.height))
        glGenFramebuffers(1, &framebuffer)
        glBindFramebuffer(GLenum(GL_FRAMEBUFFER), framebuffer)
        glFramebufferTexture2D(GLenum(GL_FRAMEBUFFER), GLenum(GL_COLOR_ATTACHMENT0), GLenum(GL_TEXTURE_2D), texture, 0)
        let status = glCheckFramebufferStatus(GLenum(GL_FRAMEBUFFER))
        guard status == GLenum(GL_FRAMEBUFFER_COMPLETE) else {
            throw RenderError.gl(operation: "glCheckFramebufferStatus(\(size.width)x\(size.height) RGBA8)", code: status)
        }
    }

    deinit {
        glDeleteFramebuffers(1, &framebuffer)
        glDeleteTextures(1, &texture)
    }
}

/// An EGL window surface on a native (GBM) surface: the DRM GLES framebuffer.
public final class GLESSurfaceTarget: SwapchainTarget {
    public let size: Size
    let surface: EGLSurface
    private let display: EGLDisplay

    init(egl: EGLState, surface native: NativeSurface) throws {
        size = native.size
        display = egl.display
        guard let config = egl.config(forVisual: EGLint(bitPattern: native.format)) else {
            throw RenderError.egl(operation: "eglChooseConfig(visual 0x\(String(native.format, radix: 16)))", code: eglGetError())
        }
        guard let window = UnsafeMutableRawPointer(bitPattern: native.window),
              let s = eglCreatePlatformWindowSurface(egl.display, config, window, nil) else {
            throw RenderError.egl(operation: "eglCreatePlatformWindowSurface(gbm surface)", code: eglGetError())
        }
        surface = s
    }

    deinit { eglDestroySurface(display, surface) }

    /// eglSwapBuffers: the frame just drawn (the surface is current after `draw`) becomes the GBM
    /// surface's front buffer, for the output to lock and flip to.
    public func swapBuffers() throws {
        guard eglSwapBuffers(display, surface) == EGL_TRUE else { throw RenderError.egl(operation: "eglSwapBuffers", code: eglGetError()) }
    }
}

/// The EGL display and context, made current on the creating thread.
final class EGLState {
    let display: EGLDisplay
    let context: EGLContext
    let displayExtensions: [String]

    init(platform: GLESRenderer.Platform) throws {
        let platformSurfaceless: EGLenum = 0x31DD, platformGBM: EGLenum = 0x31D7
        guard let proc = eglGetProcAddress("eglGetPlatformDisplayEXT") else {
            throw RenderError.egl(operation: "eglGetProcAddress(eglGetPlatformDisplayEXT)", code: eglGetError())
        }
        let getPlatformDisplay = unsafeBitCast(proc, to: PFNEGLGETPLATFORMDISPLAYEXTPROC.self)
        let dpy: EGLDisplay? = switch platform {
        case .surfaceless: getPlatformDisplay(platformSurfaceless, tessera_egl_default_display(), nil)
        case .gbm(let device): getPlatformDisplay(platformGBM, UnsafeMutableRawPointer(bitPattern: device), nil)
        }
        guard let dpy else { throw RenderError.egl(operation: "eglGetPlatformDisplayEXT(\(platform))", code: eglGetError()) }
        try EGLDisplays.retain(dpy)
        display = dpy
        displayExtensions = (eglQueryString(dpy, EGLint(EGL_EXTENSIONS)).map { String(cString: $0) } ?? "").split(separator: " ").map(String.init)
        guard eglBindAPI(EGLenum(EGL_OPENGL_ES_API)) == EGL_TRUE else {
            EGLDisplays.release(dpy)
            throw RenderError.egl(operation: "eglBindAPI(OpenGL ES)", code: eglGetError())
        }
        // With EGL_KHR_no_config_context one context serves any surface config (Mesa has it).
        let attributes: [EGLint] = [EGLint(EGL_CONTEXT_MAJOR_VERSION), 3, EGLint(EGL_CONTEXT_MINOR_VERSION), 0, EGLint(EGL_NONE)]
        let noConfig = displayExtensions.contains("EGL_KHR_no_config_context")
        let config: EGLConfig? = noConfig ? nil : EGLState.chooseConfig(dpy, visual: nil)
        guard let ctx = eglCreateContext(dpy, config, tessera_egl_no_context(), attributes) else {
            let code = eglGetError()
            EGLDisplays.release(dpy)
            throw RenderError.egl(operation: "eglCreateContext(OpenGL ES 3.0)", code: code)
        }
        context = ctx
        guard eglMakeCurrent(dpy, tessera_egl_no_surface(), tessera_egl_no_surface(), ctx) == EGL_TRUE else {
            let code = eglGetError()
            eglDestroyContext(dpy, ctx); EGLDisplays.release(dpy)
            throw RenderError.egl(operation: "eglMakeCurrent(surfaceless)", code: code)
        }
    }

    deinit {
        eglMakeCurrent(display, tessera_egl_no_surface(), tessera_egl_no_surface(), tessera_egl_no_context())
        eglDestroyContext(display, context)
        EGLDisplays.release(display)
    }

    func config(forVisual visual: EGLint) -> EGLConfig? { Self.chooseConfig(display, visual: visual) }

    static func chooseConfig(_ dpy: EGLDisplay, visual: EGLint?) -> EGLConfig? {
        let attributes: [EGLint] = [EGLint(EGL_SURFACE_TYPE), EGLint(visual == nil ? EGL_PBUFFER_BIT : EGL_WINDOW_BIT),
                                    EGLint(EGL_RED_SIZE), 8, EGLint(EGL_GREEN_SIZE), 8, EGLint(EGL_BLUE_SIZE), 8,
                                    EGLint(EGL_RENDERABLE_TYPE), EGLint(EGL_OPENGL_ES3_BIT), EGLint(EGL_NONE)]
        var count: EGLint = 0
        guard eglChooseConfig(dpy, attributes, nil, 0, &count) == EGL_TRUE, count > 0 else { return nil }
        var configs = [EGLConfig?](repeating: nil, count: Int(count))
        guard eglChooseConfig(dpy, attributes, &configs, count, &count) == EGL_TRUE else { return nil }
        guard let visual else { return configs.first ?? nil }
        // GBM surfaces need the config whose native visual is the surface's fourcc.
        return configs.first { c in
            var id: EGLint = 0
            return c.map { eglGetConfigAttrib(dpy, $0, EGLint(EGL_NATIVE_VISUAL_ID), &id) == EGL_TRUE && id == visual } ?? false
        } ?? nil
    }
}

/// EGL displays are per process (the same platform and native display give the same EGLDisplay)
/// and eglInitialize does not count: a display is terminated when its last user lets go, so one
/// renderer's end does not pull the display from under another (tests run several at once).
enum EGLDisplays {
    private static let users = Mutex<[UInt: Int]>([:])

    static func retain(_ display: EGLDisplay) throws {
        try users.withLock { (users: inout [UInt: Int]) throws in
            let key = UInt(bitPattern: display)
            if users[key, default: 0] == 0 {
                var major: EGLint = 0, minor: EGLint = 0
                guard eglInitialize(display, &major, &minor) == EGL_TRUE else {
                    throw RenderError.egl(operation: "eglInitialize", code: eglGetError())
                }
            }
            users[key, default: 0] += 1
        }
    }

    static func release(_ display: EGLDisplay) {
        users.withLock { users in
            let key = UInt(bitPattern: display)
            users[key, default: 1] -= 1
            if users[key] == 0 { users[key] = nil; eglTerminate(display) }
        }
    }
}

/// A linked program and its uniform locations.
struct Program {
    let name: String
    let id: GLuint
    let transform: GLint
    func uniform(_ n: String) -> GLint { glGetUniformLocation(id, n) }
}

/// Every program the renderer uses, compiled from `Shaders/` at start-up so a driver that cannot
/// build one fails at once, naming the shader and its log.
struct Programs {
    let yuv420p, nv12, bgra, solid, text: Program
    let external: Program?
    var all: [Program] { [yuv420p, nv12, bgra, solid, text] + (external.map { [$0] } ?? []) }
    var names: [String] { all.map(\.name) }

    init(externalSupported: Bool) throws {
        let vertex = try Self.compile("quad.vert", GL_VERTEX_SHADER)
        defer { glDeleteShader(vertex) }
        func link(_ fragment: String) throws -> Program {
            let f = try Self.compile(fragment, GL_FRAGMENT_SHADER)
            defer { glDeleteShader(f) }
            let p = glCreateProgram()
            glAttachShader(p, vertex); glAttachShader(p, f)
            glLinkProgram(p)
            var ok: GLint = 0
            glGetProgramiv(p, GLenum(GL_LINK_STATUS), &ok)
            guard ok == GL_TRUE else {
                var log = [CChar](repeating: 0, count: 4096)
                glGetProgramInfoLog(p, 4096, nil, &log)
                glDeleteProgram(p)
                throw RenderError.shader(name: "quad.vert + \(fragment)", log: String(cString: log))
            }
            return Program(name: fragment, id: p, transform: glGetUniformLocation(p, "u_transform"))
        }
        yuv420p = try link("yuv420p.frag"); nv12 = try link("nv12.frag"); bgra = try link("bgra.frag")
        solid = try link("solid.frag"); text = try link("text.frag")
        external = externalSupported ? try link("external.frag") : nil
    }

    static func compile(_ name: String, _ type: Int32) throws -> GLuint {
        guard let source = ShaderSources.files[name] else { throw RenderError.shader(name: name, log: "not built in") }
        let shader = glCreateShader(GLenum(type))
        source.withCString { s in
            var p: UnsafePointer<GLchar>? = s
            glShaderSource(shader, 1, &p, nil)
        }
        glCompileShader(shader)
        var ok: GLint = 0
        glGetShaderiv(shader, GLenum(GL_COMPILE_STATUS), &ok)
        guard ok == GL_TRUE else {
            var log = [CChar](repeating: 0, count: 4096)
            glGetShaderInfoLog(shader, 4096, nil, &log)
            glDeleteShader(shader)
            throw RenderError.shader(name: name, log: String(cString: log))
        }
        return shader
    }
}

func glString(_ name: Int32) -> String {
    glGetString(GLenum(name)).map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) } ?? ""
}

func checkGL(_ operation: String) throws {
    let e = glGetError()
    if e != GLenum(GL_NO_ERROR) { throw RenderError.gl(operation: operation, code: e) }
}
