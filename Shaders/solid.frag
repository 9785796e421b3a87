#version 300 es
// Backgrounds, borders, highlight frames and label plates (blended when alpha < 1).
precision mediump float;
uniform vec4 u_color;
out vec4 o_color;
void main() {
    o_color = u_color;
}
