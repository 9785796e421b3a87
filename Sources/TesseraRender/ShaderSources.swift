// Generated from the top-level Shaders/ folder by the render tests (TESSERA_UPDATE_SHADERS=1):
// edit the files there, not this one. Embedded so that the binary needs no files at run time.
enum ShaderSources {
    static let files: [String: String] = [
        "bgra.frag": #"""
#version 300 es
// B,G,R,A bytes uploaded as an RGBA texture: swap red and blue when sampling.
precision mediump float;
in vec2 v_texcoord;
uniform sampler2D u_rgba;
out vec4 o_color;
void main() {
    o_color = vec4(texture(u_rgba, v_texcoord).bgr, 1.0);
}
"""#,
        "external.frag": #"""
#version 300 es
#extension GL_OES_EGL_image_external_essl3 : require
// A dma-buf imported as an EGLImage (EGL_EXT_image_dma_buf_import): the driver converts to RGB.
precision mediump float;
in vec2 v_texcoord;
uniform samplerExternalOES u_external;
out vec4 o_color;
void main() {
    o_color = vec4(texture(u_external, v_texcoord).rgb, 1.0);
}
"""#,
        "nv12.frag": #"""
#version 300 es
// NV12: luma (R8) and interleaved chroma (RG8) to RGB, with the stream's matrix and range.
// highp: mediump (fp16 on GPUs) carries about 11 bits, close to a level off after the matrix.
precision highp float;
in vec2 v_texcoord;
uniform sampler2D u_y;
uniform sampler2D u_uv;
uniform vec3 u_offset;
uniform mat3 u_matrix;
out vec4 o_color;
void main() {
    vec3 yuv = vec3(texture(u_y, v_texcoord).r, texture(u_uv, v_texcoord).rg);
    o_color = vec4(clamp(u_matrix * (yuv - u_offset), 0.0, 1.0), 1.0);
}
"""#,
        "quad.vert": #"""
#version 300 es
// Every quad the GLES renderer draws: positions in the output's logical pixels, turned onto the
// panel and into clip space by u_transform (rotation included), with texture coordinates.
layout(location = 0) in vec2 a_position;
layout(location = 1) in vec2 a_texcoord;
uniform mat3 u_transform;
out vec2 v_texcoord;
void main() {
    vec3 p = u_transform * vec3(a_position, 1.0);
    gl_Position = vec4(p.xy, 0.0, 1.0);
    v_texcoord = a_texcoord;
}
"""#,
        "solid.frag": #"""
#version 300 es
// Backgrounds, borders, highlight frames and label plates (blended when alpha < 1).
precision mediump float;
uniform vec4 u_color;
out vec4 o_color;
void main() {
    o_color = u_color;
}
"""#,
        "text.frag": #"""
#version 300 es
// Text from FreeType coverage (R8): the colour with coverage as alpha.
precision mediump float;
in vec2 v_texcoord;
uniform sampler2D u_coverage;
uniform vec4 u_color;
out vec4 o_color;
void main() {
    o_color = vec4(u_color.rgb, u_color.a * texture(u_coverage, v_texcoord).r);
}
"""#,
        "yuv420p.frag": #"""
#version 300 es
// Three-plane YUV 4:2:0 (R8 textures) to RGB. u_offset and u_matrix carry the stream's matrix
// (BT.601, BT.709 or BT.2020) and range (limited or full); sampling is bilinear on each plane.
// highp: mediump (fp16 on GPUs) carries about 11 bits, close to a level off after the matrix.
precision highp float;
in vec2 v_texcoord;
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
uniform vec3 u_offset;
uniform mat3 u_matrix;
out vec4 o_color;
void main() {
    vec3 yuv = vec3(texture(u_y, v_texcoord).r, texture(u_u, v_texcoord).r, texture(u_v, v_texcoord).r);
    o_color = vec4(clamp(u_matrix * (yuv - u_offset), 0.0, 1.0), 1.0);
}
"""#,
    ]
}
