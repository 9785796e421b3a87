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
