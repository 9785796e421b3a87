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
