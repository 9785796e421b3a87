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
