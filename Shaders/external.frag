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
