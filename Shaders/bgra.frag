#version 300 es
// B,G,R,A bytes uploaded as an RGBA texture: swap red and blue when sampling.
precision mediump float;
in vec2 v_texcoord;
uniform sampler2D u_rgba;
out vec4 o_color;
void main() {
    o_color = vec4(texture(u_rgba, v_texcoord).bgr, 1.0);
}
