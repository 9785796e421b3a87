internal import CEGL

/// Opens a headless EGL display (Mesa's surfaceless platform) and reports what it offers: the first
/// step of the GLES renderer, and what `tessera doctor` shows about the GPU stack.
public enum EGLProbe {
    public struct Report: Sendable {
        public var vendor: String
        public var version: String
        public var clientExtensions: [String]
        public var displayExtensions: [String]
        public var hasDMABufImport: Bool { displayExtensions.contains("EGL_EXT_image_dma_buf_import") }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var operation: String
        public var code: Int32
        public var description: String {
            "\(operation) failed (EGL error 0x\(String(code, radix: 16))); is Mesa's EGL installed (libegl-mesa0)?"
        }
    }

    private static let platformSurfacelessMESA: EGLenum = 0x31DD

    public static func surfaceless() throws(Failure) -> Report {
        let clientExtensions = extensions(eglQueryString(tessera_egl_no_display(), EGLint(EGL_EXTENSIONS)))
        guard clientExtensions.contains("EGL_MESA_platform_surfaceless") else {
            throw Failure(operation: "EGL_MESA_platform_surfaceless lookup", code: eglGetError())
        }
        guard let getPlatformDisplay = eglGetProcAddress("eglGetPlatformDisplayEXT") else {
            throw Failure(operation: "eglGetProcAddress(eglGetPlatformDisplayEXT)", code: eglGetError())
        }
        let fn = unsafeBitCast(getPlatformDisplay, to: PFNEGLGETPLATFORMDISPLAYEXTPROC.self)
        guard let display = fn(platformSurfacelessMESA, tessera_egl_default_display(), nil) else {
            throw Failure(operation: "eglGetPlatformDisplayEXT(SURFACELESS_MESA)", code: eglGetError())
        }
        do { try EGLDisplays.retain(display) } catch { throw Failure(operation: "eglInitialize", code: eglGetError()) }
        defer { EGLDisplays.release(display) }
        return Report(vendor: string(eglQueryString(display, EGLint(EGL_VENDOR))),
                      version: string(eglQueryString(display, EGLint(EGL_VERSION))),
                      clientExtensions: clientExtensions,
                      displayExtensions: extensions(eglQueryString(display, EGLint(EGL_EXTENSIONS))))
    }

    private static func string(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
    private static func extensions(_ p: UnsafePointer<CChar>?) -> [String] { string(p).split(separator: " ").map(String.init) }
}
