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
